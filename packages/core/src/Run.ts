/**
 * The Run record: one execution of a multi-agent program.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { CheckpointId, RunId } from "./Ids.js"
import { ErrorInfo, JsonText, Metadata, Status, Timestamp, Totals } from "./Model.js"

/**
 * A run with its outcome and the totals of all its steps. A run made with `forkFrom` points
 * at its parent run and the checkpoint it started from.
 *
 * @since 0.1.0
 */
export class Run extends Schema.Class<Run>("@multirun/core/Run")({
  id: RunId,
  name: Schema.String,
  status: Status,
  metadata: Metadata,
  tags: Schema.Array(Schema.String),
  parentRunId: Schema.NullOr(RunId),
  forkedFrom: Schema.NullOr(CheckpointId),
  startedAt: Timestamp,
  endedAt: Schema.NullOr(Timestamp),
  result: Schema.NullOr(JsonText),
  error: Schema.NullOr(ErrorInfo),
  /** How many calls replay found with a changed input (drift); their steps carry the path. */
  drifts: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  ...Totals.fields
}) {}

/**
 * A run as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Run.Encoded

/**
 * Which runs `listRuns` returns. Every field narrows the list; `limit` defaults to 100.
 *
 * @since 0.1.0
 */
export const RunFilter = Schema.Struct({
  status: Schema.optional(Status),
  name: Schema.optional(Schema.String),
  tag: Schema.optional(Schema.String),
  parentRunId: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000)))
})

/** @since 0.1.0 */
export type RunFilter = typeof RunFilter.Type
