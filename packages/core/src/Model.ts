/**
 * Schemas shared by the records: statuses, totals, JSON payloads, errors.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Status of a run, an agent or a step.
 *
 * @since 0.1.0
 */
export const Status = Schema.Literal("running", "completed", "failed", "interrupted")

/** @since 0.1.0 */
export type Status = typeof Status.Type

/**
 * A JSON value stored as canonical JSON text (encoded side) and exposed parsed (type side).
 *
 * @since 0.1.0
 */
export const JsonText = Schema.parseJson()

/**
 * Free-form JSON metadata.
 *
 * @since 0.1.0
 */
export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** @since 0.1.0 */
export type Metadata = typeof Metadata.Type

/**
 * What is kept of an error: its tag when it has one and a readable message.
 *
 * @since 0.1.0
 */
export const ErrorInfo = Schema.Struct({
  tag: Schema.NullOr(Schema.String),
  message: Schema.String
})

/** @since 0.1.0 */
export type ErrorInfo = typeof ErrorInfo.Type

/** A token count; records written before 0.2 have none and read as 0. */
const tokenCount = Schema.optionalWith(Schema.Number, { default: () => 0 })

/**
 * Token counts of a step, an agent or a run, as providers report them: `cachedInputTokens` are
 * part of `inputTokens` and `reasoningTokens` part of `outputTokens`. `tokensUsed` is the total.
 *
 * @since 0.2.0
 */
export const TokenCounts = Schema.Struct({
  inputTokens: tokenCount,
  outputTokens: tokenCount,
  cachedInputTokens: tokenCount,
  reasoningTokens: tokenCount,
  tokensUsed: Schema.Number
})

/** @since 0.2.0 */
export type TokenCounts = typeof TokenCounts.Type

/**
 * The totals that agents and runs aggregate from their executed steps. `costUsd` sums the steps
 * whose cost is known. `latencyMs` is the sum of the steps' latencies, not the wall time, which
 * is `endedAt - startedAt`.
 *
 * @since 0.1.0
 */
export const Totals = Schema.Struct({
  stepCount: Schema.Int,
  ...TokenCounts.fields,
  costUsd: Schema.Number,
  latencyMs: Schema.Number
})

/** @since 0.1.0 */
export type Totals = typeof Totals.Type

/** Milliseconds since the epoch on the wire, `DateTime.Utc` in code. @since 0.1.0 */
export const Timestamp = Schema.DateTimeUtcFromNumber
