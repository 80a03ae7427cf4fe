/** What is kept of an outcome: error info, the status an `Exit` stands for, a result as text. */
import { Cause, Either, Exit, Option, Schema } from "effect"
import type { ErrorInfo, ErrorKind, Status } from "../Model.js"
import { canonicalJson } from "./canonical.js"

/** Longest canonical JSON kept of one field of an error; a longer field is described instead. */
export const maxErrorFieldSize = 16 * 1024

/** Fields of an error that `ErrorInfo` holds already, or that would only repeat the code. */
const notData = new Set(["_tag", "message", "stack"])

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "string") return error
  const message = (error as { message?: unknown } | null)?.message
  if (typeof message === "string") return message
  const text = canonicalJson(error, "error")
  return typeof text === "string" ? text : String(error)
}

/** A field of an error as JSON, or a string saying what it was when it is not JSON or too long. */
const fieldOf = (value: unknown, name: string): unknown => {
  const text = canonicalJson(value, `error.data.${name}`)
  if (typeof text !== "string") {
    return value instanceof Error ? `[${value.name}: ${value.message}]` : `[not JSON: ${text.found}]`
  }
  return text.length > maxErrorFieldSize ? `[not kept: ${text.length} characters of JSON]` : JSON.parse(text)
}

/**
 * The own enumerable fields of an error object (a Schema class through its encoding) and its
 * `cause` (an own but hidden field of an `Error` given one), as a JSON object; `undefined` when
 * it has none. Reading an error never fails: a field whose getter throws is described.
 */
const dataOf = (error: unknown): { readonly [key: string]: unknown } | undefined => {
  if (typeof error !== "object" || error === null) return undefined
  const ctor: unknown = error.constructor
  const encoded = Schema.isSchema(ctor) ? Schema.encodeUnknownEither(ctor as Schema.Schema<unknown>)(error) : undefined
  const source = encoded !== undefined && Either.isRight(encoded) && typeof encoded.right === "object" &&
      encoded.right !== null
    ? encoded.right
    : error
  // no prototype: a field named `__proto__` is kept as a field
  const fields: Record<string, unknown> = Object.create(null)
  let empty = true
  const add = (from: object, key: string): void => {
    let value: unknown
    try {
      value = (from as Record<string, unknown>)[key]
    } catch (e) {
      value = `[unreadable: ${e instanceof Error ? e.message : String(e)}]`
    }
    if (value === undefined) return
    fields[key] = fieldOf(value, key)
    empty = false
  }
  for (const key of Object.keys(source)) if (!notData.has(key)) add(source, key)
  if (!("cause" in fields) && Object.prototype.hasOwnProperty.call(error, "cause")) add(error, "cause")
  // every field is JSON now; the text parsed back is a plain object
  return empty ? undefined : JSON.parse(canonicalJson(fields, "error.data") as string)
}

/**
 * What is kept of an error or a defect: its tag when it has one, a readable message, its kind
 * (a typed failure unless told) and its own fields as JSON.
 */
export const errorInfo = (error: unknown, kind: ErrorKind = "failure"): ErrorInfo => {
  const tag = (error as { _tag?: unknown } | null)?._tag
  const data = dataOf(error)
  const info: ErrorInfo = { tag: typeof tag === "string" ? tag : null, message: messageOf(error), kind }
  return data === undefined ? info : { ...info, data }
}

/**
 * The error info of a cause: an interruption is `Interrupted`; a typed failure is kept before a
 * defect, each with its kind.
 */
export const causeInfo = (cause: Cause.Cause<unknown>): ErrorInfo => {
  if (Cause.isInterruptedOnly(cause)) return { tag: "Interrupted", message: "interrupted", kind: "interruption" }
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) ? errorInfo(failure.value) : errorInfo(Cause.squash(cause), "defect")
}

/** The status an exit stands for. */
export const exitStatus = (exit: Exit.Exit<unknown, unknown>): Status =>
  Exit.isSuccess(exit) ? "completed" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

/** A result as stored: canonical JSON text, `null` for nothing, or a visible marker when not JSON. */
export const resultText = (result: unknown): string | null => {
  if (result === undefined) return null
  const text = canonicalJson(result, "result")
  return typeof text === "string" ? text : JSON.stringify({ $unserializable: text.message })
}

/** How an owner (run or agent) ends: its status, result text and error. */
export interface Ending {
  readonly status: Status
  readonly result: string | null
  readonly error: ErrorInfo | null
}

/** The ending an exit stands for. */
export const endingOf = (exit: Exit.Exit<unknown, unknown>): Ending =>
  Exit.isSuccess(exit)
    ? { status: "completed", result: resultText(exit.value), error: null }
    : { status: exitStatus(exit), result: null, error: causeInfo(exit.cause) }
