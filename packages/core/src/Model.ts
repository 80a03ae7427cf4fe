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

/**
 * The totals that agents and runs aggregate from their steps. `latencyMs` is the sum of the
 * steps' latencies (wall time is `endedAt - startedAt`).
 *
 * @since 0.1.0
 */
export const Totals = Schema.Struct({
  stepCount: Schema.Int,
  tokensUsed: Schema.Number,
  costUsd: Schema.Number,
  latencyMs: Schema.Number
})

/** @since 0.1.0 */
export type Totals = typeof Totals.Type

/** Milliseconds since the epoch on the wire, `DateTime.Utc` in code. @since 0.1.0 */
export const Timestamp = Schema.DateTimeUtcFromNumber
