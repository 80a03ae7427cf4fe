/**
 * The Step record (data): one recorded unit of work. The combinators that record steps are in
 * the `Step` module, which re-exports this one.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { AgentId, RunId, StepId } from "./Ids.js"
import { Amount, ErrorInfo, JsonText, Status, Timestamp, TokenCounts } from "./Model.js"

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
 * within its run, taken when the step was called. `output` is `null` when the step returned
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
  replayed: Schema.Boolean
}) {}

/**
 * A step as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Step.Encoded
