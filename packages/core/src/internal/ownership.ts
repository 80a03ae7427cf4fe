/**
 * A run's ownership in this process: its lease is acquired when the run starts, renewed by a
 * background fiber every third of its time to live, and released when the run ends. Writes of
 * the run carry the lease's epoch, so a backend refuses them once another process owns the run.
 */
import { Effect, Fiber } from "effect"
import { hostname } from "node:os"
import { randomUUID } from "node:crypto"
import { BackendError, RunError } from "../Errors.js"
import * as Lease from "../Lease.js"
import type { MultiRunClientService } from "../MultiRunClient.js"

/** The owner token of a run started in this process: readable in a `Locked` error, and unique. */
export const ownerToken = (): string => `pid ${process.pid} on ${hostname()} (${randomUUID().slice(0, 8)})`

/**
 * Takes a run's lease for this process. A lease still held by a process of this machine that
 * has died (a crash, `kill -9`) is asked over at once (`replaces`) instead of waiting for it to
 * expire: a store on this machine sees the holder is dead and grants it.
 */
export const acquireLease = (
  client: MultiRunClientService,
  request: Lease.Request
): Effect.Effect<Lease.Encoded, BackendError | RunError> =>
  Effect.catchIf(
    client.acquireLease(request),
    (error): error is RunError =>
      error instanceof RunError && error.holder !== undefined && Lease.isDeadLocalOwner(error.holder.owner),
    (error) => client.acquireLease({ ...request, replaces: error.holder!.owner })
  )

/** What ownership needs of a run. */
export interface Owned {
  lease: Lease.Encoded
  /** Set once another process took the run over: the run's next steps fail with it. */
  fenced: BackendError | undefined
  renewal: Fiber.RuntimeFiber<void> | undefined
  readonly runId: string
  readonly client: MultiRunClientService
}

/**
 * The backend as the run writes to it: every write carries the epoch of the run's current lease.
 */
export const fencedClient = (client: MultiRunClientService, run: Owned): MultiRunClientService => ({
  ...client,
  writeRun: (record) => client.writeRun(record, run.lease.epoch),
  writeAgent: (record) => client.writeAgent(record, run.lease.epoch),
  writeStep: (record) => client.writeStep(record, run.lease.epoch),
  saveCheckpoint: (checkpoint) => client.saveCheckpoint(checkpoint, run.lease.epoch)
})

/** The error of a step attempted after the run was taken over. */
const takenOver = (error: RunError) =>
  new BackendError({
    operation: "step",
    reason: "Fenced",
    detail: `${error.message}. The step was not executed`
  })

/**
 * Renews the run's lease every third of its time to live until interrupted. A renewal refused
 * because another process owns the run fences the run; a backend failure is logged and the
 * renewal tried again at the next tick (the lease may lapse meanwhile, and then the next
 * renewal finds out).
 */
const renewLoop = (run: Owned): Effect.Effect<void> =>
  Effect.gen(function*() {
    let failures = 0
    while (true) {
      yield* Effect.sleep(Math.max(1, Math.floor(run.lease.ttlMs / 3)))
      const renewed = yield* Effect.either(run.client.renewLease(run.lease))
      if (renewed._tag === "Right") {
        run.lease = renewed.right
        failures = 0
        continue
      }
      const error = renewed.left
      if (error instanceof RunError) {
        run.fenced = takenOver(error)
        return yield* Effect.logWarning(`multirun: ${error.message}`)
      }
      yield* Effect.logWarning(
        `multirun: could not renew the lease of run ${run.runId} (attempt ${++failures}): ${error.message}`
      )
    }
  })

/** Starts renewing the run's lease in a fiber of its own, which `release` stops. */
export const keepAlive = (run: Owned): Effect.Effect<void> =>
  // interruptible although a run starts in an uninterruptible region, which a fork inherits
  Effect.map(Effect.forkDaemon(Effect.interruptible(renewLoop(run))), (fiber) => {
    run.renewal = fiber
  })

/** Stops renewing and gives the lease up; a failure to give it up only delays the next owner. */
export const release = (run: Owned): Effect.Effect<void> =>
  Effect.suspend(() => {
    const renewal = run.renewal
    run.renewal = undefined
    return Effect.zipRight(
      renewal === undefined ? Effect.void : Fiber.interrupt(renewal),
      run.client.releaseLease(run.lease).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(
            `multirun: could not release the lease of run ${run.runId} (${error.message}); ` +
              "it expires on its own"
          )
        )
      )
    )
  })
