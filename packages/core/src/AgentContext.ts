/**
 * The context of the agent a step belongs to, `withAgent` and `AgentContext.layer`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Tracer } from "effect"
import type { Exit, Option } from "effect"
import type { Agent } from "./Agent.js"
import type { Checkpoint } from "./Checkpoint.js"
import type { BackendError, CheckpointError, ReplayError, RunError, SerializationError } from "./Errors.js"
import { bracketExit } from "./internal/lifecycle.js"
import type { Metadata } from "./Model.js"
import { RunContext, type RunContextService } from "./RunContext.js"
import type { StateAccess } from "./StateKey.js"
import type { StepError, StepOptions } from "./Step.js"
import type { StepContextService } from "./StepContext.js"
import type { Step, StepKind } from "./StepRecord.js"

/**
 * How to start an agent.
 *
 * @since 0.1.0
 */
export interface AgentOptions {
  readonly name: string
  readonly agentConfigId?: string | undefined
  readonly metadata?: Metadata | undefined
}

/**
 * An agent of the current run.
 *
 * @since 0.1.0
 */
export interface AgentContextService extends StateAccess<SerializationError, ReplayError> {
  /** A snapshot of the agent record, totals included. */
  readonly agent: Effect.Effect<Agent>
  readonly runContext: RunContextService
  /** The agent's span when the run has `Telemetry`: `withAgent` runs the agent's program under it. */
  readonly span?: Tracer.AnySpan | undefined
  readonly isDefault: boolean
  readonly isReplaying: Effect.Effect<boolean>
  /** The agent's steps as stored by the backend, in order. */
  readonly steps: Effect.Effect<ReadonlyArray<Step>, BackendError>
  /** Starts a step driven by hand; finish it with `complete` or `fail` on the result. */
  readonly startStep: (options: {
    readonly name: string
    readonly kind?: StepKind | undefined
    readonly input?: unknown
  }) => Effect.Effect<StepContextService, SerializationError | RunError>
  /** The recorded result of a step with this name and input, if replay holds one (not consumed). */
  readonly getStepResult: (name: string, input?: unknown) => Effect.Effect<Option.Option<unknown>, SerializationError>
  /** A checkpoint of the whole run, noting this agent as its author. */
  readonly checkpoint: (
    name: string,
    options?: { readonly extraState?: unknown }
  ) => Effect.Effect<Checkpoint, CheckpointError | BackendError | SerializationError>
  /**
   * Records `body` as a step of this agent: what `step(...)` and `Step.fn` do. During replay a
   * step with a recorded result returns it without running `body`.
   */
  readonly runStep: <A, E, R>(
    name: string,
    options: StepOptions<A>,
    body: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | StepError, R>
  /** Ends the agent from an exit: completed with the value, failed with the error, or interrupted. */
  readonly end: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void, BackendError>
  readonly complete: (result?: unknown) => Effect.Effect<void, BackendError>
  readonly fail: (error: unknown) => Effect.Effect<void, BackendError>
}

/**
 * The agent tag.
 *
 * @since 0.1.0
 */
export class AgentContext extends Context.Tag("@multirun/core/AgentContext")<AgentContext, AgentContextService>() {
  /** `withAgent` as a scoped layer, see {@link layer}. */
  static readonly layer = (nameOrOptions: string | AgentOptions) => layer(nameOrOptions)
}

const toOptions = (nameOrOptions: string | AgentOptions): AgentOptions =>
  typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions

/**
 * Runs `self` as an agent of the current run: starts the agent, provides `AgentContext`, and
 * completes, fails or interrupts the agent from the effect's `Exit`. Agents may run
 * concurrently. After a restore, an agent with the same name as one in the checkpoint takes
 * over its id, state and totals.
 *
 * @since 0.1.0
 */
export const withAgent = (nameOrOptions: string | AgentOptions) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | BackendError | SerializationError, Exclude<R, AgentContext> | RunContext> =>
  Effect.flatMap(RunContext, (run) =>
    bracketExit(
      run.startAgent(toOptions(nameOrOptions)),
      (agent): Effect.Effect<A, E, Exclude<R, AgentContext>> => {
        const body = Effect.provideService(self, AgentContext, agent)
        return agent.span === undefined ? body : Effect.withParentSpan(body, agent.span)
      },
      (agent, exit) => agent.end(exit)
    ))

/**
 * `withAgent` as a scoped layer: the agent starts on the current run when the layer is built and
 * ends (completed, failed or interrupted) from the exit of the layer's scope. With telemetry, the
 * agent's span is the parent of the spans made under the layer.
 *
 * @example
 * const program = research.pipe(Effect.provide(AgentContext.layer("researcher")))
 * yield* program.pipe(withRun("report"))
 *
 * @since 0.3.0
 */
export const layer = (
  nameOrOptions: string | AgentOptions
): Layer.Layer<AgentContext, BackendError | SerializationError, RunContext> =>
  Layer.scopedContext(
    Effect.map(
      Effect.acquireRelease(
        Effect.flatMap(RunContext, (run) => run.startAgent(toOptions(nameOrOptions))),
        (agent, exit) =>
          agent.end(exit).pipe(
            Effect.catchAll((error) => Effect.logError("multirun: could not record the agent's end", error))
          )
      ),
      (agent) => {
        const services = Context.make(AgentContext, agent)
        return agent.span === undefined ? services : Context.add(services, Tracer.ParentSpan, agent.span)
      }
    )
  )
