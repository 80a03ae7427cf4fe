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
 * Half-open ranges `[from, to)` of step sequence numbers, in order and apart: a checkpoint's
 * watermark, the recorded steps a resume replayed.
 *
 * @since 0.3.0
 */
export const SeqRanges = Schema.Array(Schema.Tuple(Schema.Int, Schema.Int))

/** @since 0.3.0 */
export type SeqRanges = typeof SeqRanges.Type

/**
 * A JSON value stored as canonical JSON text (encoded side) and exposed parsed (type side).
 *
 * @since 0.1.0
 */
export const JsonText = Schema.parseJson()

/**
 * How deep a stored value may nest. Deeper values are refused (`SerializationError` at the
 * step, 400 at the server): past this, readers (JSON parsers, databases, the viewer) start to
 * fail on stack depth.
 *
 * @since 0.2.0
 */
export const maxDepth = 512

/**
 * Whether a JSON value nests at most `levels` objects or arrays deep (default {@link maxDepth}),
 * walked without recursion, so any depth is answered without a stack overflow.
 *
 * @since 0.2.0
 */
export const withinDepth = (value: unknown, levels: number = maxDepth): boolean => {
  // two parallel stacks of containers and their depths: no pair allocated per value, and
  // scalars are never pushed (this walks every request body the server reads)
  if (typeof value !== "object" || value === null) return true
  const containers: Array<object> = [value]
  const depths: Array<number> = [0]
  while (containers.length > 0) {
    const current = containers.pop()!
    const depth = depths.pop()!
    if (depth >= levels) return false
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i]
        if (typeof child === "object" && child !== null) {
          containers.push(child)
          depths.push(depth + 1)
        }
      }
    } else {
      const keys = Object.keys(current)
      for (let i = 0; i < keys.length; i++) {
        const child: unknown = (current as Record<string, unknown>)[keys[i]!]
        if (typeof child === "object" && child !== null) {
          containers.push(child)
          depths.push(depth + 1)
        }
      }
    }
  }
  return true
}

/**
 * Any JSON value nested at most {@link maxDepth} levels: state, metadata, `extraState`.
 *
 * @since 0.2.0
 */
export const JsonValue = Schema.Unknown.pipe(
  Schema.filter((value) => withinDepth(value), { message: () => `a value nested deeper than ${maxDepth} levels` })
)

/**
 * Free-form JSON metadata.
 *
 * @since 0.1.0
 */
export const Metadata = Schema.Record({ key: Schema.String, value: JsonValue })

/** @since 0.1.0 */
export type Metadata = typeof Metadata.Type

/**
 * How an effect ended without a value: a typed `failure` (the error channel), a `defect` (a
 * die, a thrown exception), or an `interruption`.
 *
 * @since 0.3.0
 */
export const ErrorKind = Schema.Literal("failure", "defect", "interruption")

/** @since 0.3.0 */
export type ErrorKind = typeof ErrorKind.Type

/**
 * What is kept of an error: its tag when it has one, a readable message, since 0.3 its `kind`,
 * and `data`, the error's own fields as a JSON object (without `_tag`, `message` and `stack`;
 * a field that is not JSON is kept as a string describing it). Records written before 0.3 have
 * neither `kind` nor `data`.
 *
 * @since 0.1.0
 */
export const ErrorInfo = Schema.Struct({
  tag: Schema.NullOr(Schema.String),
  message: Schema.String,
  kind: Schema.optionalWith(ErrorKind, { exact: true }),
  data: Schema.optionalWith(Schema.Record({ key: Schema.String, value: JsonValue }), { exact: true })
})

/** @since 0.1.0 */
export type ErrorInfo = typeof ErrorInfo.Type

/**
 * A finite number ≥ 0: token counts, costs. `NaN`, `Infinity` (which JSON would turn into
 * `null`) and negative values are refused wherever a record is decoded, the server's ingest
 * included.
 *
 * @since 0.2.0
 */
export const Amount = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

/** A token count; records written before 0.2 have none and read as 0. */
const tokenCount = Schema.optionalWith(Amount, { default: () => 0 })

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
  tokensUsed: Amount
})

/** @since 0.2.0 */
export type TokenCounts = typeof TokenCounts.Type

/**
 * The totals that agents and runs aggregate from their executed steps (a replayed step costs
 * nothing). `costUsd` sums the steps whose cost is known; it is `null` when some step's cost is
 * unknown and the known ones add up to nothing (a tool call costs 0 beside an unpriced model
 * call), so an unknown cost never reads as 0. `unpricedSteps` counts
 * the steps whose cost is unknown: with a number in `costUsd`, the cost is at least that much.
 * `latencyMs` is the sum of the steps' latencies, not the wall time, which is
 * `endedAt - startedAt`.
 *
 * @since 0.1.0
 */
export const Totals = Schema.Struct({
  stepCount: Schema.Int.pipe(Schema.nonNegative()),
  ...TokenCounts.fields,
  costUsd: Schema.NullOr(Amount),
  /** Records written before 0.3 have none and read as 0. @since 0.3.0 */
  unpricedSteps: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 0 }),
  latencyMs: Schema.Number.pipe(Schema.finite())
})

/** @since 0.1.0 */
export type Totals = typeof Totals.Type

/** Milliseconds since the epoch on the wire, `DateTime.Utc` in code. @since 0.1.0 */
export const Timestamp = Schema.DateTimeUtcFromNumber
