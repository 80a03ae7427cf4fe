/**
 * @multirun/core: track multi-agent AI runs in Effect and make them resumable.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Accessors from "./Accessors.js"
/** @since 0.1.0 */
export * as Agent from "./Agent.js"
/** @since 0.1.0 */
export * as Api from "./Api.js"
/** @since 0.1.0 */
export * as BatchWriter from "./BatchWriter.js"
/** @since 0.1.0 */
export * as Checkpoint from "./Checkpoint.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Event from "./Event.js"
/** @since 0.1.0 */
export * as Ids from "./Ids.js"
/** @since 0.2.0 */
export * as Lease from "./Lease.js"
/** @since 0.3.0 */
export * as Memory from "./Memory.js"
/** @since 0.1.0 */
export * as Model from "./Model.js"
/** @since 0.1.0 */
export * as MultiRunClient from "./MultiRunClient.js"
/** @since 0.2.0 */
export * as Outbox from "./Outbox.js"
/** @since 0.2.0 */
export * as Redaction from "./Redaction.js"
/** @since 0.3.0 */
export * as Remote from "./Remote.js"
/** @since 0.1.0 */
export * as Run from "./Run.js"
/** @since 0.3.0 */
export * as RunDiff from "./RunDiff.js"
/** @since 0.2.0 */
export * as RunExport from "./RunExport.js"
/** @since 0.1.0 */
export * as StateKey from "./StateKey.js"
/** @since 0.1.0 */
export * as Step from "./Step.js"
/** @since 0.2.0 */
export * as Telemetry from "./Telemetry.js"

export {
  currentAgent,
  currentClient,
  currentRun,
  hasActiveAgent,
  hasActiveClient,
  hasActiveRun
} from "./Accessors.js"
export { AgentContext, type AgentContextService, type AgentOptions, withAgent } from "./AgentContext.js"
export { Checkpoints, type CheckpointsService } from "./Checkpoints.js"
export {
  BackendError,
  CheckpointError,
  NoActiveAgent,
  NoActiveClient,
  NoActiveRun,
  ReplayError,
  RunError,
  SerializationError
} from "./Errors.js"
export { LocalLayer } from "./LocalLayer.js"
export { type DriftPolicy, RunContext, type RunContextService, type RunOptions, withRun } from "./RunContext.js"
export { StepContext, type StepContextService, type StepInfo, type Usage } from "./StepContext.js"
export { step } from "./Step.js"
export { RemoteLayer } from "./RemoteLayer.js"
