/**
 * Typed keys for run and agent state.
 *
 * @since 0.1.0
 */
import type { Effect, Option, Schema } from "effect"

/**
 * A state key whose values are encoded with `schema` when stored and decoded when read back.
 *
 * @since 0.1.0
 */
export interface StateKey<A, I = A> {
  readonly _tag: "StateKey"
  readonly key: string
  readonly schema: Schema.Schema<A, I>
}

/**
 * Makes a typed state key.
 *
 * @example
 * const Plan = StateKey.make("plan", Schema.Array(Schema.String))
 * yield* run.setState(Plan, ["search", "write"])
 *
 * @since 0.1.0
 */
export const make = <A, I>(key: string, schema: Schema.Schema<A, I>): StateKey<A, I> => ({
  _tag: "StateKey",
  key,
  schema
})

/**
 * Whether a value is a {@link StateKey}.
 *
 * @since 0.1.0
 */
export const isStateKey = (u: unknown): u is StateKey<unknown, unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "StateKey"

/**
 * Reading and writing state, as offered by `RunContext` and `AgentContext`. Plain string keys
 * take any JSON value; typed keys encode and decode through their schema. State follows JSON:
 * `setState(key, undefined)` removes the key, as `deleteState(key)` does, and an `undefined`
 * property inside a value is left out.
 *
 * @since 0.1.0
 */
export interface StateAccess<SetError, GetError> {
  readonly setState: {
    <A, I>(key: StateKey<A, I>, value: A): Effect.Effect<void, SetError>
    (key: string, value: unknown): Effect.Effect<void, SetError>
  }
  readonly getState: {
    <A, I>(key: StateKey<A, I>): Effect.Effect<Option.Option<A>, GetError>
    <A, I>(key: StateKey<A, I>, orElse: A): Effect.Effect<A, GetError>
    (key: string): Effect.Effect<Option.Option<unknown>>
    (key: string, orElse: unknown): Effect.Effect<unknown>
  }
  /** Removes a key; a key that is not set is left as it is. */
  readonly deleteState: (key: string | StateKey<any, any>) => Effect.Effect<void>
}
