/**
 * The backend service: where runs, agents, steps and checkpoints are written and read.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Either, Layer, Option } from "effect"
import type * as Agent from "./Agent.js"
import type * as Checkpoint from "./Checkpoint.js"
import { type BackendError, CheckpointError, type RunError } from "./Errors.js"
import * as Lease from "./Lease.js"
import * as Run from "./Run.js"
import type * as Step from "./StepRecord.js"

/**
 * A backend. It works on encoded (JSON) records only; the contexts above it own the schemas.
 *
 * Writes are upserts keyed by id (a step is written once, when it ends) and may be buffered:
 * `flush` returns once everything written before it is durable, and `saveCheckpoint` first
 * makes every earlier write durable, then stores the checkpoint, refusing a second checkpoint
 * with the same `(runId, version)` with `CheckpointError("Conflict")`. Reads see every write
 * made before them through the same client.
 *
 * Runs are owned through leases (see `Lease`): `acquireLease` gives the run to one process at a
 * time, and a write given the `epoch` of its writer's lease is refused with
 * `BackendError("Fenced")` once a newer owner holds the run (for a buffered backend, the next
 * `flush` reports it).
 *
 * Runs are stored without `stalled` and read with it when they are stalled (see `Run.Stalled`):
 * a backend derives it from the run's status and lease on its own clock, and drops it from a
 * run written to it.
 *
 * @since 0.1.0
 */
export interface MultiRunClientService {
  readonly writeRun: (run: Run.Encoded, epoch?: number) => Effect.Effect<void, BackendError>
  readonly writeAgent: (agent: Agent.Encoded, epoch?: number) => Effect.Effect<void, BackendError>
  readonly writeStep: (step: Step.Encoded, epoch?: number) => Effect.Effect<void, BackendError>
  readonly saveCheckpoint: (
    checkpoint: Checkpoint.Encoded,
    epoch?: number
  ) => Effect.Effect<void, BackendError | CheckpointError>
  readonly flush: Effect.Effect<void, BackendError>
  /**
   * Takes the run's lease on the backend's own clock, or fails with `RunError("Locked")` naming
   * the live holder (`InvalidLease` for a time to live out of bounds, `NotFound` for a run the
   * backend does not hold).
   */
  readonly acquireLease: (request: Lease.Request) => Effect.Effect<Lease.Encoded, BackendError | RunError>
  /** Extends a held lease from the backend's time, or fails with `RunError("Fenced")` if another process took the run. */
  readonly renewLease: (lease: Lease.Encoded) => Effect.Effect<Lease.Encoded, BackendError | RunError>
  /** Gives a held lease up (it expires at once; its epoch stays, so late writes stay fenced). */
  readonly releaseLease: (lease: Lease.Encoded) => Effect.Effect<void, BackendError>
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<Run.Encoded>, BackendError>
  readonly listRuns: (filter?: Run.RunFilter) => Effect.Effect<ReadonlyArray<Run.Encoded>, BackendError>
  readonly listAgents: (runId: string) => Effect.Effect<ReadonlyArray<Agent.Encoded>, BackendError>
  /** Steps of a run ordered by `seq`. */
  readonly listSteps: (runId: string) => Effect.Effect<ReadonlyArray<Step.Encoded>, BackendError>
  readonly getCheckpoint: (
    checkpointId: string
  ) => Effect.Effect<Option.Option<Checkpoint.Encoded>, BackendError | CheckpointError>
  /** Checkpoints of a run ordered by `version`. */
  readonly listCheckpoints: (
    runId: string
  ) => Effect.Effect<ReadonlyArray<Checkpoint.Encoded>, BackendError | CheckpointError>
}

/**
 * The backend tag: every layer of a backend (`Memory.layer`, `Sqlite.layer`, `Pg.layer`,
 * `Remote.layer`) provides it.
 *
 * @since 0.1.0
 */
export class MultiRunClient extends Context.Tag("@multirun/core/MultiRunClient")<MultiRunClient, MultiRunClientService>() {}

/** Whether a run as read (with `stalled` when it is) has a filter's status. */
const hasStatus = (run: Run.Encoded, status: Run.FilterStatus): boolean =>
  status === "stalled"
    ? run.stalled !== undefined
    : run.status === status && (status !== "running" || run.stalled === undefined)

/**
 * Applies a run filter the same way on every backend that filters in memory, to runs as read
 * (with `stalled` when they are).
 *
 * @since 0.1.0
 */
export const matchesFilter = (run: Run.Encoded, filter: Run.RunFilter): boolean =>
  (filter.status === undefined || hasStatus(run, filter.status)) &&
  (filter.name === undefined || run.name === filter.name) &&
  (filter.tag === undefined || run.tags.includes(filter.tag)) &&
  (filter.parentRunId === undefined || run.parentRunId === filter.parentRunId)

/**
 * An in-memory backend. Nothing is buffered: every write is visible at once. Its clock is the
 * caller's `Clock`: leases are stamped and a run is judged stalled on it.
 *
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<MultiRunClientService> = Effect.sync(() => {
  const runs = new Map<string, Run.Encoded>()
  const agents = new Map<string, Map<string, Agent.Encoded>>()
  const steps = new Map<string, Array<Step.Encoded>>()
  const checkpoints = new Map<string, Checkpoint.Encoded>()
  const checkpointsByRun = new Map<string, Array<Checkpoint.Encoded>>()
  const leases = new Map<string, Lease.Encoded>()
  /** Runs a write unless a newer owner holds its run. */
  const fenced = (operation: string, runId: string, epoch: number | undefined, write: () => void) =>
    Effect.suspend(() => {
      if (Lease.isFenced(leases.get(runId)?.epoch, epoch)) {
        return Effect.fail(Lease.fencedWrites(operation, [{ runId, epoch }], "memory"))
      }
      write()
      return Effect.void
    })
  const child = <A>(map: Map<string, Map<string, A>>, runId: string): Map<string, A> => {
    let inner = map.get(runId)
    if (inner === undefined) map.set(runId, inner = new Map())
    return inner
  }
  return MultiRunClient.of({
    writeRun: (run, epoch) => fenced("writeRun", run.id, epoch, () => void runs.set(run.id, Run.stored(run))),
    writeAgent: (agent, epoch) =>
      fenced("writeAgent", agent.runId, epoch, () => void child(agents, agent.runId).set(agent.id, agent)),
    writeStep: (step, epoch) =>
      fenced("writeStep", step.runId, epoch, () => {
        const list = steps.get(step.runId)
        if (list === undefined) steps.set(step.runId, [step])
        else list.push(step)
      }),
    saveCheckpoint: (checkpoint, epoch) =>
      Effect.suspend((): Effect.Effect<void, BackendError | CheckpointError> => {
        if (Lease.isFenced(leases.get(checkpoint.runId)?.epoch, epoch)) {
          return Effect.fail(Lease.fencedWrites("saveCheckpoint", [{ runId: checkpoint.runId, epoch }], "memory"))
        }
        const list = checkpointsByRun.get(checkpoint.runId) ?? []
        if (list.some((c) => c.version === checkpoint.version)) {
          return Effect.fail(
            new CheckpointError({
              reason: "Conflict",
              checkpointId: checkpoint.id,
              runId: checkpoint.runId,
              detail: `version ${checkpoint.version} of this run was already saved by another writer; ` +
                `resume from the latest checkpoint instead of writing to the same run twice`
            })
          )
        }
        list.push(checkpoint)
        checkpointsByRun.set(checkpoint.runId, list)
        checkpoints.set(checkpoint.id, checkpoint)
        return Effect.void
      }),
    flush: Effect.void,
    acquireLease: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const invalid = Lease.invalidTtl(request.runId, request.ttlMs)
        if (invalid !== undefined) return Effect.fail(invalid)
        if (!runs.has(request.runId)) return Effect.fail(Lease.noSuchRun(request.runId))
        const current = leases.get(request.runId)
        return Either.match(Lease.acquire(current, request, now), {
          onLeft: (holder) => Effect.fail(Lease.locked(holder)),
          onRight: (lease) =>
            Effect.as(
              Lease.isForced(current, request, now)
                ? Effect.logWarning(Lease.forcedMessage(current, request))
                : Effect.void,
              (leases.set(lease.runId, lease), lease)
            )
        })
      }),
    renewLease: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const current = leases.get(lease.runId)
        if (current?.epoch !== lease.epoch || current.owner !== lease.owner) {
          return Effect.fail(Lease.fenced(lease, current))
        }
        const renewed = { ...current, expiresAt: now + current.ttlMs }
        leases.set(lease.runId, renewed)
        return Effect.succeed(renewed)
      }),
    releaseLease: (lease) =>
      Effect.sync(() => {
        const current = leases.get(lease.runId)
        if (current?.epoch === lease.epoch && current.owner === lease.owner) {
          leases.set(lease.runId, { ...current, expiresAt: 0 })
        }
      }),
    getRun: (runId) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        Option.map(Option.fromNullable(runs.get(runId)), (run) => Run.withStalled(run, leases.get(runId), now))),
    listRuns: (filter = {}) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        [...runs.values()]
          .map((run) => Run.withStalled(run, leases.get(run.id), now))
          .filter((run) => matchesFilter(run, filter))
          .sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1))
          .slice(0, filter.limit ?? 100)
      ),
    listAgents: (runId) =>
      Effect.sync(() => [...(agents.get(runId)?.values() ?? [])].sort((a, b) => a.startedAt - b.startedAt)),
    // a step written twice (same id) keeps its last record
    listSteps: (runId) =>
      Effect.sync(() =>
        [...new Map((steps.get(runId) ?? []).map((step) => [step.id, step])).values()].sort((a, b) => a.seq - b.seq)
      ),
    getCheckpoint: (checkpointId) => Effect.sync(() => Option.fromNullable(checkpoints.get(checkpointId))),
    listCheckpoints: (runId) => Effect.sync(() => [...(checkpointsByRun.get(runId) ?? [])])
  })
})

/**
 * In-memory backend layer; each build of the layer has its own memory.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<MultiRunClient> = Layer.effect(MultiRunClient, makeMemory)
