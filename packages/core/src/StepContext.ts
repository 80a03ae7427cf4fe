/**
 * The context of the step being executed.
 *
 * @since 0.1.0
 */
import { Context } from "effect"
import type { Effect } from "effect"
import type { AgentContextService } from "./AgentContext.js"
import type { BackendError, SerializationError } from "./Errors.js"
import type { StepId } from "./Ids.js"
import type { StepKind } from "./Step.js"

/**
 * Tokens, cost and model reported for a step.
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
  /** Total tokens; when omitted it is the sum of the others. */
  readonly tokensUsed?: number | undefined
  /** Cost in USD; null when unknown. */
  readonly costUsd?: number | null | undefined
  /** The provider's model id. */
  readonly model?: string | undefined
}

/**
 * What is known of a step while it runs.
 *
 * @since 0.1.0
 */
export interface StepInfo {
  readonly id: StepId
  readonly name: string
  readonly kind: StepKind
  readonly seq: number
  readonly inputHash: string
  readonly startedAtMillis: number
}

/**
 * Offered to the body of a step (`yield* StepContext`), and returned by
 * `AgentContext.startStep` for steps driven by hand.
 *
 * - `addUsage` adds tokens and cost to the step.
 * - `complete(result, usage)` sets the step's result (the step returns it instead of the
 *   body's value) and usage; for a step from `startStep` it records the step at once.
 * - `fail(error)` records the step as failed (it will never be replayed); inside `step(...)`
 *   the body's own outcome is still returned.
 *
 * @since 0.1.0
 */
export interface StepContextService {
  readonly step: Effect.Effect<StepInfo>
  readonly agentContext: Effect.Effect<AgentContextService>
  readonly addUsage: (usage: Usage) => Effect.Effect<void>
  readonly complete: (result: unknown, usage?: Usage) => Effect.Effect<void, SerializationError | BackendError>
  readonly fail: (error: unknown) => Effect.Effect<void, BackendError>
}

/**
 * The step tag.
 *
 * @since 0.1.0
 */
export class StepContext extends Context.Tag("@multirun/core/StepContext")<StepContext, StepContextService>() {}
