/**
 * The Step record (data): one recorded unit of work. The combinators that record steps are in
 * the `Step` module, which re-exports this one.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { AgentId, RunId, StepId } from "./Ids.js"
import { Amount, ErrorInfo, JsonText, SeqRanges, Status, Timestamp, TokenCounts } from "./Model.js"

/**
 * What a step does.
 *
 * @since 0.1.0
 */
export const StepKind = Schema.Literal("llm_call", "tool_call", "retrieval", "function", "handoff", "custom")

/** @since 0.1.0 */
export type StepKind = typeof StepKind.Type

/**
 * One recorded unit of work: its canonical input and hash, output or error, timing, usage,
 * and whether it was replayed from a checkpoint instead of executed. `seq` is the step's order
 * within its run, taken when the step was called; `parentId` the step whose body called it. `output` is `null` when the step returned
 * nothing (`void`) or failed.
 *
 * @since 0.1.0
 */
export class Step extends Schema.Class<Step>("@multirun/core/Step")({
  id: StepId,
  runId: RunId,
  agentId: AgentId,
  name: Schema.String,
  kind: StepKind,
  seq: Schema.Int,
  inputHash: Schema.String,
  input: JsonText,
  output: Schema.NullOr(JsonText),
  error: Schema.NullOr(ErrorInfo),
  status: Status,
  startedAt: Timestamp,
  endedAt: Schema.NullOr(Timestamp),
  latencyMs: Schema.Number.pipe(Schema.finite()),
  ...TokenCounts.fields,
  /** Null when the cost is unknown (a model missing from the price table). */
  costUsd: Schema.NullOr(Amount),
  /** The provider's model id, for model calls. */
  model: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  replayed: Schema.Boolean,
  /**
   * The step this one ran inside (its body called it), null at the top of an agent. A replayed
   * parent stands for the steps inside it: they are neither replayed nor executed again.
   */
  parentId: Schema.optionalWith(Schema.NullOr(StepId), { default: () => null }),
  /**
   * Set when replay found this call's input changed against a recorded call of the same step: the
   * JSON path of the first difference (`input.temperature`). Null otherwise.
   */
  drift: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  /**
   * The call's place among the calls of its key (agent, step name, input) in its attempt, 0 for
   * the first, replayed calls included: replay gives the n-th call of a key the n-th record.
   * Null in records written before 0.3.
   */
  occurrence: Schema.optionalWith(Schema.NullOr(Schema.Int), { default: () => null }),
  /**
   * Recorded steps of the run (by `seq`) that calls inside this step's body replayed: when this
   * step's record is replayed, it stands for them too. Replayed calls write no step of their own
   * (the run's `replays` say which records each resume replayed).
   */
  replayedInside: Schema.optionalWith(SeqRanges, { default: () => [] })
}) {}

/**
 * A step as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Step.Encoded
