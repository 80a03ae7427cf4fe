/**
 * Run leases: a run has one owner at a time. The process that creates or resumes a run acquires
 * its lease (an owner token with an expiry), renews it while the run lives and releases it when
 * the run ends. A second process that tries to resume the run while the lease is live fails at
 * once with `RunError("Locked")`; once the owner dies and the lease expires, a resume proceeds.
 *
 * Every acquisition increments the run's `epoch` (a fencing token). Writes carry the epoch of
 * their writer and a backend refuses a write whose epoch is older than the run's current one
 * (`BackendError("Fenced")`), so a process that paused past its expiry cannot mix its records
 * into the execution of the process that took over.
 *
 * Times are the callers' clocks (`Clock`, so `TestClock` drives expiry in tests): processes that
 * share a run are expected to have clocks that agree to well within the lease's time to live.
 *
 * Readers use the lease too: a `running` run whose lease expired has lost its owner, and reads
 * as stalled (`Run.Stalled`), judged on the backend's own clock.
 *
 * @since 0.2.0
 */
import { Either, Schema } from "effect"
import { BackendError, RunError } from "./Errors.js"

const Millis = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/**
 * A lease as stored: who owns the run (`owner`), the fencing token (`epoch`, 1 for the first
 * owner, +1 for every later one), since when, until when, and for how long each renewal extends.
 *
 * @since 0.2.0
 */
export class Lease extends Schema.Class<Lease>("@multirun/core/Lease")({
  runId: Schema.String,
  owner: Schema.String,
  epoch: Schema.Int.pipe(Schema.positive()),
  acquiredAt: Millis,
  expiresAt: Millis,
  ttlMs: Millis.pipe(Schema.positive())
}) {}

/** @since 0.2.0 */
export type Encoded = typeof Lease.Encoded

/**
 * A request for a run's lease: the owner token of the process, its current time and the time to
 * live of the lease.
 *
 * @since 0.2.0
 */
export const Request = Schema.Struct({
  runId: Schema.String,
  owner: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  now: Millis,
  ttlMs: Millis.pipe(Schema.positive()),
  /**
   * Take the lease over from this owner even if it has not expired: for a requester that knows
   * the holder is dead (a process of the same machine that no longer exists).
   */
  replaces: Schema.optional(Schema.String)
})

/** @since 0.2.0 */
export type Request = typeof Request.Type

/**
 * Time to live of a lease when a run does not set one: 30 seconds, renewed every third of it.
 *
 * @since 0.2.0
 */
export const defaultTtlMs = 30_000

/**
 * Whether a lease still holds at `now`: it expires at `expiresAt` (a released lease expired at 0).
 *
 * @since 0.3.0
 */
export const isLive = (lease: Encoded, now: number): boolean => lease.expiresAt > now

/**
 * When the owner of a lease was last seen: its last renewal (each one sets `expiresAt` to its
 * time plus `ttlMs`), or for a released lease, whose expiry is 0, when it was acquired.
 *
 * @since 0.3.0
 */
export const lastSeenAt = (lease: Pick<Encoded, "acquiredAt" | "expiresAt" | "ttlMs">): number =>
  lease.expiresAt === 0 ? lease.acquiredAt : lease.expiresAt - lease.ttlMs

/**
 * The rule every backend applies to an acquisition: the run's lease goes to the requester when
 * there is none, when it has expired, when the requester already holds it, or when it is held
 * by the owner the request `replaces`; otherwise the current holder keeps it (`Left`).
 *
 * @since 0.2.0
 */
export const acquire = (current: Encoded | undefined, request: Request): Either.Either<Encoded, Encoded> => {
  if (
    current !== undefined && isLive(current, request.now) && current.owner !== request.owner &&
    current.owner !== request.replaces
  ) {
    return Either.left(current)
  }
  return Either.right({
    runId: request.runId,
    owner: request.owner,
    epoch: (current?.epoch ?? 0) + 1,
    acquiredAt: request.now,
    expiresAt: request.now + request.ttlMs,
    ttlMs: request.ttlMs
  })
}

/**
 * Whether a write made under `epoch` is fenced out by the run's current lease epoch: a newer owner
 * holds (or held) the run. Writes without an epoch (tools, imports) are never fenced.
 *
 * @since 0.2.0
 */
export const isFenced = (currentEpoch: number | undefined, epoch: number | undefined): boolean =>
  epoch !== undefined && currentEpoch !== undefined && currentEpoch > epoch

/**
 * The error of an acquisition refused because another live process holds the run.
 *
 * @since 0.2.0
 */
export const locked = (holder: Encoded): RunError =>
  new RunError({
    reason: "Locked",
    runId: holder.runId,
    holder: { owner: holder.owner, acquiredAt: holder.acquiredAt, expiresAt: holder.expiresAt },
    detail: "another live process owns this run; wait for it to end, or, if it died, for its lease to expire, " +
      "then resume again"
  })

/**
 * The error of a renewal refused because another process took the run over.
 *
 * @since 0.2.0
 */
export const fenced = (lease: Encoded, current: Encoded | undefined): RunError =>
  new RunError({
    reason: "Fenced",
    runId: lease.runId,
    ...(current === undefined ? {} : {
      holder: { owner: current.owner, acquiredAt: current.acquiredAt, expiresAt: current.expiresAt }
    }),
    detail: `this process's lease (epoch ${lease.epoch}) lapsed and ${
      current === undefined ? "was removed" : `another process owns the run now (epoch ${current.epoch})`
    }; this process stops writing to the run`
  })

/**
 * The error of writes refused because they come from an owner that was fenced out.
 *
 * @since 0.2.0
 */
export const fencedWrites = (
  operation: string,
  records: ReadonlyArray<{ readonly runId: string; readonly epoch: number | undefined }>,
  location?: string
): BackendError =>
  new BackendError({
    operation,
    reason: "Fenced",
    ...(location === undefined ? {} : { location }),
    detail: `${records.length} record(s) of run ${records[0]?.runId} written under lease epoch ${records[0]?.epoch} ` +
      "were refused: another process took the run over, and this process no longer owns it"
  })
