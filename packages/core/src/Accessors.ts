/**
 * Run-time questions about the current context, for code that cannot take the context in `R`.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import type { Agent } from "./Agent.js"
import { AgentContext } from "./AgentContext.js"
import { NoActiveAgent, NoActiveClient, NoActiveRun } from "./Errors.js"
import { MultiRunClient, type MultiRunClientService } from "./MultiRunClient.js"
import type { Run } from "./Run.js"
import { RunContext } from "./RunContext.js"

/**
 * A snapshot of the current run, or `NoActiveRun`.
 *
 * @since 0.1.0
 */
export const currentRun: Effect.Effect<Run, NoActiveRun> = Effect.flatMap(
  Effect.serviceOption(RunContext),
  Option.match({ onNone: () => Effect.fail(new NoActiveRun()), onSome: (run) => run.run })
)

/**
 * A snapshot of the current agent, or `NoActiveAgent`.
 *
 * @since 0.1.0
 */
export const currentAgent: Effect.Effect<Agent, NoActiveAgent> = Effect.flatMap(
  Effect.serviceOption(AgentContext),
  Option.match({ onNone: () => Effect.fail(new NoActiveAgent()), onSome: (agent) => agent.agent })
)

/**
 * The current backend, or `NoActiveClient`.
 *
 * @since 0.1.0
 */
export const currentClient: Effect.Effect<MultiRunClientService, NoActiveClient> = Effect.flatMap(
  Effect.serviceOption(MultiRunClient),
  Option.match({ onNone: () => Effect.fail(new NoActiveClient()), onSome: Effect.succeed })
)

/** @since 0.1.0 */
export const hasActiveRun: Effect.Effect<boolean> = Effect.map(Effect.serviceOption(RunContext), Option.isSome)

/** @since 0.1.0 */
export const hasActiveAgent: Effect.Effect<boolean> = Effect.map(Effect.serviceOption(AgentContext), Option.isSome)

/** @since 0.1.0 */
export const hasActiveClient: Effect.Effect<boolean> = Effect.map(Effect.serviceOption(MultiRunClient), Option.isSome)
