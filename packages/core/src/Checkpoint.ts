/**
 * `Checkpoint`, the record (data): what a run needs to continue from a point. The service is
 * `Checkpoints`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { SerializationError } from "./Errors.js"
import { AgentId, CheckpointId, RunId } from "./Ids.js"
import { checkId, checkText } from "./internal/storable.js"
import { JsonValue, maxDepth, SeqRanges, Timestamp, Totals, withinDepth } from "./Model.js"
import { Step } from "./StepRecord.js"

/**
 * JSON state: key to JSON value. Decoding returns the object it is given, not a copy built key
 * by key, so a key such as `__proto__` (an own property of parsed JSON) stays a key.
 *
 * @since 0.1.0
 */
export const State = Schema.declare(
  (value: unknown): value is { readonly [key: string]: unknown } =>
    typeof value === "object" && value !== null && !Array.isArray(value) && withinDepth(value, maxDepth + 1),
  {
    identifier: "@multirun/core/Checkpoint/State",
    description: `a JSON object of state keys to JSON values nested at most ${maxDepth} levels`,
    jsonSchema: { type: "object" }
  }
)

/** @since 0.1.0 */
export type State = typeof State.Type

/**
 * One agent as captured by a checkpoint.
 *
 * @since 0.1.0
 */
export const AgentSnapshot = Schema.Struct({
  agentId: AgentId,
  name: Schema.String,
  isDefault: Schema.Boolean,
  state: State,
  ...Totals.fields
})

/** @since 0.1.0 */
export type AgentSnapshot = typeof AgentSnapshot.Type

/**
 * Half-open ranges `[from, to)` of step sequence numbers: the watermark of the steps a
 * checkpoint covers. Steps still running when it was taken are left out.
 *
 * @since 0.1.0
 */
export const Ranges = SeqRanges

/** @since 0.1.0 */
export type Ranges = typeof Ranges.Type

/**
 * A step in flight when a checkpoint was taken: it has a place among the calls of its key
 * (agent, step name, input hash), so a call after a restore is matched with its own record even
 * when this one never ended.
 *
 * @since 0.3.0
 */
export const PendingStep = Schema.Struct({
  seq: Schema.Int,
  agentId: AgentId,
  name: Schema.String,
  inputHash: Schema.String,
  /** Its place among the calls of its key in its attempt (0 for the first); absent before 0.3. */
  occurrence: Schema.optional(Schema.Int)
})

/** @since 0.3.0 */
export type PendingStep = typeof PendingStep.Type

/**
 * `Checkpoint` is the stored record (data); the service that takes and lists them is `Checkpoints`.
 * It holds run state, every agent's state, `extraState`, the run totals and the watermark of completed
 * steps. `version` increases by one per checkpoint of a run; the store refuses a second
 * checkpoint with the same version, so two writers on one run are detected.
 *
 * @since 0.1.0
 */
export class Checkpoint extends Schema.Class<Checkpoint>("@multirun/core/Checkpoint")({
  id: CheckpointId,
  runId: RunId,
  name: Schema.String,
  version: Schema.Int,
  agentId: Schema.NullOr(AgentId),
  createdAt: Timestamp,
  runState: State,
  agents: Schema.Array(AgentSnapshot),
  extraState: Schema.NullOr(JsonValue),
  covered: Ranges,
  /**
   * The sequence numbers of each attempt that led to this checkpoint (the run's first execution,
   * then one per restore or resume), oldest first, the last ending where the checkpoint was taken.
   * Replay matches each call with the record of its own key and occurrence within these attempts.
   * Absent in checkpoints written before 0.3.
   */
  segments: Schema.optional(Ranges),
  /** Steps in flight when this checkpoint (or one it continues) was taken. */
  pending: Schema.optionalWith(Schema.Array(PendingStep), { default: () => [] }),
  ...Totals.fields
}) {}

/**
 * A checkpoint as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Checkpoint.Encoded

/**
 * Why no backend can store a checkpoint, or `undefined` when every backend can: an id that is
 * empty, longer than 256 characters, `.`/`..` or not printable, or a name holding U+0000 or a
 * lone surrogate (its state is stored as JSON text, which escapes them). The server answers such
 * a checkpoint 400 with this error's message.
 *
 * @since 0.3.0
 */
export const unstorable = (checkpoint: Encoded): SerializationError | undefined =>
  checkId(checkpoint.id, "checkpoint.id") ?? checkId(checkpoint.runId, "checkpoint.runId") ??
    (checkpoint.agentId === null ? undefined : checkId(checkpoint.agentId, "checkpoint.agentId")) ??
    checkText(checkpoint.name, "checkpoint.name")

/**
 * Whether a sequence number lies in the ranges.
 *
 * @since 0.1.0
 */
export const covers = (ranges: Ranges, seq: number): boolean => {
  for (const [from, to] of ranges) if (seq >= from && seq < to) return true
  return false
}

/**
 * The difference between two checkpoints of a run: state keys (`run.k`, `agent:NAME.k`,
 * `extra`) added, removed and changed, and the steps completed between the two.
 *
 * @since 0.1.0
 */
export class CheckpointDiff extends Schema.Class<CheckpointDiff>("@multirun/core/CheckpointDiff")({
  from: CheckpointId,
  to: CheckpointId,
  added: Schema.Array(Schema.String),
  removed: Schema.Array(Schema.String),
  changed: Schema.Array(Schema.String),
  steps: Schema.Array(Step)
}) {}
