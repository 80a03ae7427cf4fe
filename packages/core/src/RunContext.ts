/**
 * The context of the current run, `withRun` and `RunContext.layer`.
 *
 * @since 0.1.0
 */
import { Context, type Duration, Effect, Layer, Option, Tracer } from "effect"
import type { Agent } from "./Agent.js"
import type { AgentContextService, AgentOptions } from "./AgentContext.js"
import type { Checkpoint } from "./Checkpoint.js"
import type { BackendError, CheckpointError, ReplayError, RunError, SerializationError } from "./Errors.js"
import type { CheckpointId, RunId } from "./Ids.js"
import { bracketExit } from "./internal/lifecycle.js"
import { startRun } from "./internal/run.js"
import type { RunState } from "./internal/runState.js"
import { stepContext } from "./internal/stepContext.js"
import type { Metadata } from "./Model.js"
import type { MultiRunClient, MultiRunClientService } from "./MultiRunClient.js"
import { Redaction } from "./Redaction.js"
import type { Run } from "./Run.js"
import type { StateAccess } from "./StateKey.js"
import { StepContext } from "./StepContext.js"
import { Telemetry } from "./Telemetry.js"

/**
 * What to do when replay meets a recorded step called with another input: execute it for real
 * and report the drift (default), or fail with `ReplayError("InputChanged")`.
 *
 * @since 0.1.0
 */
export type DriftPolicy = "execute" | "fail"

/**
 * How to start a run.
 *
 * - `resume`: continue an existing run (same id) from a checkpoint, e.g. in a new process.
 *   `{ runId, latest: true }` takes the run's latest checkpoint (or restarts the run under its
 *   id when it has none).
 * - `forkFrom`: a new run, linked to its parent, that starts from that checkpoint's state and
 *   replay cache.
 * - `onDrift`: the drift policy of the run's steps (default `"execute"`).
 * - `leaseTtl`: how long the run's lease outlives this process if it dies (default 30 s, from
 *   100 ms to 1 hour, else `RunError("InvalidLease")` before the run starts; it is renewed every
 *   third of that while the run lives, on the backend's clock). A resume of the run by another
 *   process fails with `RunError("Locked")` until then.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  readonly name: string
  readonly metadata?: Metadata | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  readonly resume?:
    | { readonly checkpointId: CheckpointId | string }
    | { readonly runId: RunId | string; readonly latest: true }
    | undefined
  readonly forkFrom?: CheckpointId | string | undefined
  readonly onDrift?: DriftPolicy | undefined
  readonly leaseTtl?: Duration.DurationInput | undefined
  /**
   * Largest canonical JSON of a step's input or output, and of a checkpoint, in UTF-8 bytes
   * (default 4 MiB). A larger value fails the step with `SerializationError`, a larger
   * checkpoint fails with `CheckpointError("TooLarge")`, instead of being refused by a backend
   * later.
   */
  readonly maxValueSize?: number | undefined
}

/**
 * The current run.
 *
 * @since 0.1.0
 */
export interface RunContextService extends StateAccess<SerializationError, ReplayError> {
  readonly runId: RunId
  /** A snapshot of the run record, totals included. */
  readonly run: Effect.Effect<Run>
  readonly client: MultiRunClientService
  /** True from a restore until every recorded step has been replayed. */
  readonly isReplaying: Effect.Effect<boolean>
  /** The agents started in this process, in order. */
  readonly agents: Effect.Effect<ReadonlyArray<Agent>>
  /** Drift reported during replay under the `execute` policy. */
  readonly drifts: Effect.Effect<ReadonlyArray<ReplayError>>
  /** The run's default agent, created on first use: where steps outside any `withAgent` go. */
  readonly defaultAgent: Effect.Effect<AgentContextService, BackendError>
  readonly startAgent: (options: AgentOptions) => Effect.Effect<AgentContextService, SerializationError | BackendError>
  readonly complete: (result?: unknown) => Effect.Effect<void, BackendError>
  readonly fail: (error: unknown) => Effect.Effect<void, BackendError>
  /** Captures state and the completed steps; returns once the backend holds them durably. */
  readonly checkpoint: (
    name: string,
    options?: { readonly extraState?: unknown }
  ) => Effect.Effect<Checkpoint, CheckpointError | BackendError | SerializationError>
  /** Restores state from a checkpoint of this run and enters replay. */
  readonly restoreFromCheckpoint: (
    checkpointId: CheckpointId | string
  ) => Effect.Effect<Checkpoint, CheckpointError | BackendError>
}

/**
 * The run tag.
 *
 * @since 0.1.0
 */
export class RunContext extends Context.Tag("@multirun/core/RunContext")<RunContext, RunContextService>() {
  /** `withRun` as a scoped layer, see {@link layer}. */
  static readonly layer = (nameOrOptions: string | RunOptions) => layer(nameOrOptions)
}

const toOptions = (nameOrOptions: string | RunOptions): RunOptions =>
  typeof nameOrOptions === "string" ? { name: nameOrOptions } : nameOrOptions

/**
 * Starts a run with the `Telemetry` and `Redaction` services, when they are provided; a run
 * started inside another records that one as its parent.
 */
const start = (options: RunOptions, readInBackground: boolean) =>
  Effect.flatMap(
    Effect.all([Effect.serviceOption(Telemetry), Effect.serviceOption(Redaction), Effect.serviceOption(RunContext)]),
    ([telemetry, redaction, outer]) =>
      startRun(
        options,
        Option.getOrUndefined(telemetry),
        Option.getOrUndefined(redaction),
        Option.getOrUndefined(Option.map(outer, (run) => run.runId)),
        readInBackground
      )
  )

/**
 * The services a run gives its program: the run, and the `StepContext` of its steps; with
 * telemetry, the run's span as the parent of the program's spans.
 */
const runServices = (run: RunState): Context.Context<RunContext | StepContext> => {
  const services = Context.make(RunContext, run.service).pipe(Context.add(StepContext, stepContext))
  const span = run.telemetry?.run?.span
  return span === undefined ? services : Context.add(services, Tracer.ParentSpan, span)
}

/**
 * Runs `self` as a run: creates (or resumes, or forks) the run, provides `RunContext`, and
 * records the outcome from the effect's `Exit` (`completed` with the result, `failed` with the
 * error, `interrupted`), then flushes the backend.
 *
 * @since 0.1.0
 */
export const withRun = (nameOrOptions: string | RunOptions) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | BackendError | CheckpointError | SerializationError | RunError,
  Exclude<R, RunContext> | MultiRunClient
> =>
  bracketExit(
    start(toOptions(nameOrOptions), true),
    (run) => {
      const program = Effect.provide(self, runServices(run)) as Effect.Effect<A, E, Exclude<R, RunContext>>
      return run.reading === undefined ? program : run.reading.beside(program)
    },
    (run, exit) => run.finish(exit)
  )

/**
 * `withRun` as a scoped layer: the run ends when the layer's scope closes.
 *
 * @since 0.1.0
 */
export const layer = (
  nameOrOptions: string | RunOptions
): Layer.Layer<
  RunContext | StepContext,
  BackendError | CheckpointError | SerializationError | RunError,
  MultiRunClient
> =>
  Layer.scopedContext(
    Effect.map(
      Effect.acquireRelease(start(toOptions(nameOrOptions), false), (run, exit) =>
        run.finish(exit).pipe(
          Effect.catchAll((error) => Effect.logError("multirun: could not record the run's end", error))
        )),
      runServices
    )
  )
