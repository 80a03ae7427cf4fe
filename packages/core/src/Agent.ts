/**
 * The Agent record: one participant of a run, owning steps.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { AgentId, RunId } from "./Ids.js"
import { ErrorInfo, JsonText, Metadata, Status, Timestamp, Totals } from "./Model.js"

/**
 * An agent of a run with its outcome and the totals of its steps. `isDefault` marks the agent
 * created lazily for steps recorded outside any `withAgent`.
 *
 * @since 0.1.0
 */
export class Agent extends Schema.Class<Agent>("@multirun/core/Agent")({
  id: AgentId,
  runId: RunId,
  name: Schema.String,
  agentConfigId: Schema.NullOr(Schema.String),
  metadata: Metadata,
  isDefault: Schema.Boolean,
  status: Status,
  startedAt: Timestamp,
  endedAt: Schema.NullOr(Timestamp),
  result: Schema.NullOr(JsonText),
  error: Schema.NullOr(ErrorInfo),
  ...Totals.fields
}) {}

/**
 * An agent as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Agent.Encoded

/**
 * Name of the agent created lazily for steps outside any `withAgent`.
 *
 * @since 0.1.0
 */
export const defaultAgentName = "default"
