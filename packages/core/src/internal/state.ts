import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { ReplayError, SerializationError } from "../Errors.js"
import type { StateKey } from "../StateKey.js"
import { canonicalJson } from "./canonical.js"
import { checkText } from "./storable.js"

/**
 * Key/value state held as canonical JSON text, so readers never share mutable values. Setting a
 * key to `undefined` (or to a value its schema encodes as `undefined`) removes it, as a JSON
 * object leaves out an `undefined` property.
 */
export class StateStore {
  private values = new Map<string, string>()

  /** `owner` names the state in errors: `run` or `agent:NAME`. */
  constructor(readonly owner: string) {}

  readonly setState = (key: string | StateKey<any, any>, value: unknown): Effect.Effect<void, SerializationError> =>
    Effect.suspend(() => {
      const name = typeof key === "string" ? key : key.key
      const badKey = checkText(name, `${this.owner}.state key`)
      if (badKey !== undefined) return Effect.fail(badKey)
      let encoded = value
      if (typeof key !== "string") {
        const result = Schema.encodeEither(key.schema)(value)
        if (Either.isLeft(result)) {
          return Effect.fail(
            new SerializationError({
              path: `${this.owner}.state.${name}`,
              found: "a value its schema cannot encode",
              detail: ParseResult.TreeFormatter.formatErrorSync(result.left)
            })
          )
        }
        encoded = result.right
      }
      if (encoded === undefined) {
        this.values.delete(name)
        return Effect.void
      }
      const text = canonicalJson(encoded, `${this.owner}.state.${name}`)
      if (typeof text !== "string") return Effect.fail(text)
      this.values.set(name, text)
      return Effect.void
    })

  readonly deleteState = (key: string | StateKey<any, any>): Effect.Effect<void> =>
    Effect.sync(() => {
      this.values.delete(typeof key === "string" ? key : key.key)
    })

  readonly getState = (key: string | StateKey<any, any>, ...orElse: [] | [unknown]): Effect.Effect<any, ReplayError> =>
    Effect.suspend(() => {
      const name = typeof key === "string" ? key : key.key
      const text = this.values.get(name)
      if (text === undefined) return Effect.succeed(orElse.length === 0 ? Option.none() : orElse[0])
      const parsed: unknown = JSON.parse(text)
      if (typeof key === "string") return Effect.succeed(orElse.length === 0 ? Option.some(parsed) : parsed)
      const decoded = Schema.decodeUnknownEither(key.schema)(parsed)
      if (Either.isLeft(decoded)) {
        return Effect.fail(
          new ReplayError({
            reason: "Decode",
            stepName: `${this.owner}.state.${name}`,
            detail: `the stored state value no longer matches the key's schema: ${
              ParseResult.TreeFormatter.formatErrorSync(decoded.left)
            }`
          })
        )
      }
      return Effect.succeed(orElse.length === 0 ? Option.some(decoded.right) : decoded.right)
    })

  /** The state as JSON values, for a checkpoint. */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    // defined, not assigned: a key such as `__proto__` stays data
    for (const [key, text] of this.values) {
      Object.defineProperty(out, key, { value: JSON.parse(text), enumerable: true, writable: true, configurable: true })
    }
    return out
  }

  /** Replaces the whole state, from a checkpoint. */
  replace(state: Readonly<Record<string, unknown>>): void {
    this.values = new Map(Object.entries(state).map(([key, value]) => [key, JSON.stringify(value)]))
  }
}
