/** What is kept of an outcome: error info, the status an `Exit` stands for, a result as text. */
import { Cause, Exit } from "effect"
import type { ErrorInfo, Status } from "../Model.js"
import { canonicalJson } from "./canonical.js"

const messageOf = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "string") return error
  const message = (error as { message?: unknown } | null)?.message
  if (typeof message === "string") return message
  const text = canonicalJson(error, "error")
  return typeof text === "string" ? text : String(error)
}

/** What is kept of an error or a defect: its tag when it has one and a readable message. */
export const errorInfo = (error: unknown): ErrorInfo => {
  const tag = (error as { _tag?: unknown } | null)?._tag
  return { tag: typeof tag === "string" ? tag : null, message: messageOf(error) }
}

/** The error info of a cause; an interruption is `Interrupted`. */
export const causeInfo = (cause: Cause.Cause<unknown>): ErrorInfo =>
  Cause.isInterruptedOnly(cause) ? { tag: "Interrupted", message: "interrupted" } : errorInfo(Cause.squash(cause))

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
