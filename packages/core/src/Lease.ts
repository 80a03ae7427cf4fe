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
 * Times are the store's own clock, never a requester's: the database's time for SQLite and
 * PostgreSQL, the server's for a remote store, the `Clock` of the memory store (so `TestClock`
 * drives it in tests). A request carries no time, and its time to live is bounded
 * (`minTtlMs`..`maxTtlMs`). A live lease is taken over only from an owner the store knows is
 * dead (a process of the store's machine that no longer exists), or by an explicit `force`,
 * which the store logs. A lease is granted only for a run the store holds.
 *
 * Readers use the lease too: a `running` run whose lease expired has lost its owner, and reads
 * as stalled (`Run.Stalled`), judged on the backend's own clock.
 *
 * @since 0.2.0
 */
import { Either, Schema } from "effect"
import { hostname } from "node:os"
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
 * The shortest time to live a lease may ask for: 100 milliseconds (renewed every third of it).
 *
 * @since 0.3.0
 */
export const minTtlMs = 100

/**
 * The longest time to live a lease may ask for: one hour, so a process that dies holding a run
 * keeps it at most that long.
 *
 * @since 0.3.0
 */
export const maxTtlMs = 3_600_000

/**
 * A request for a run's lease: the owner token of the process and the time to live of the lease
 * (`minTtlMs`..`maxTtlMs`). It carries no time: the store stamps the lease with its own clock
 * (a `now` sent by a client of 0.2 is ignored).
 *
 * @since 0.2.0
 */
export const Request = Schema.Struct({
  runId: Schema.String,
  owner: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  ttlMs: Millis.pipe(Schema.between(minTtlMs, maxTtlMs)),
  /**
   * Take the lease over from this owner although it has not expired: granted when the store
   * knows that owner is dead (a process of the store's machine that no longer exists), or with
   * `force`; otherwise the acquisition fails `Locked` like any other.
   */
  replaces: Schema.optional(Schema.String),
  /** With `replaces`: take the lease over from that owner even if it is alive. The store logs it. */
  force: Schema.optional(Schema.Boolean)
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
 * Whether an owner token (`pid 4242 on host (…)`, see `withRun`) names a process of this machine
 * that no longer exists: a store that runs on that machine knows the owner is dead.
 *
 * @since 0.3.0
 */
export const isDeadLocalOwner = (owner: string): boolean => {
  const match = /^pid (\d+) on (.+) \([0-9a-f]{8}\)$/.exec(owner)
  if (match === null || match[2] !== hostname() || Number(match[1]) === process.pid) return false
  try {
    process.kill(Number(match[1]), 0)
    return false
  } catch (error) {
    return (error as { readonly code?: unknown }).code === "ESRCH"
  }
}

/**
 * The error of a request whose time to live is outside `minTtlMs`..`maxTtlMs`, or `undefined`.
 *
 * @since 0.3.0
 */
export const invalidTtl = (runId: string, ttlMs: number): RunError | undefined =>
  Number.isInteger(ttlMs) && ttlMs >= minTtlMs && ttlMs <= maxTtlMs ? undefined : new RunError({
    reason: "InvalidLease",
    runId,
    detail: `a lease's time to live must be a whole number of milliseconds from ${minTtlMs} to ${maxTtlMs}, ` +
      `not ${ttlMs}; set \`leaseTtl\` of \`withRun\` within these bounds`
  })

/**
 * The error of an acquisition for a run the store does not hold.
 *
 * @since 0.3.0
 */
export const noSuchRun = (runId: string): RunError =>
  new RunError({
    reason: "NotFound",
    runId,
    detail: "the store holds no run with this id, and a lease is granted only for a stored run; " +
      "write the run's record first, and check the run id and the backend the program points at"
  })

/**
 * How an acquisition may take a live lease over from its holder: when the request `replaces`
 * it and either forces it or the store knows the holder is dead. `undefined` when it may not.
 */
const takeover = (holder: Encoded, request: Request): "forced" | "dead" | undefined =>
  request.replaces !== holder.owner ? undefined : request.force === true
    ? "forced"
    : isDeadLocalOwner(holder.owner)
    ? "dead"
    : undefined

/**
 * Whether an acquisition at `now` takes the lease from another live owner by force: the store
 * logs it (`forcedMessage`).
 *
 * @since 0.3.0
 */
export const isForced = (current: Encoded | undefined, request: Request, now: number): current is Encoded =>
  current !== undefined && isLive(current, now) && current.owner !== request.owner &&
  takeover(current, request) === "forced"

/**
 * The line a store logs when a request forced a live lease over.
 *
 * @since 0.3.0
 */
export const forcedMessage = (holder: Encoded, request: Request): string =>
  `multirun: run ${holder.runId}: ${request.owner} forced the lease over from ${holder.owner}, whose lease ran ` +
  `until ${new Date(holder.expiresAt).toISOString()} (epoch ${holder.epoch}); its later writes are refused (Fenced)`

/**
 * The rule every backend applies to an acquisition at `now`, the store's own time: the run's
 * lease goes to the requester when there is none, when it has expired, when the requester
 * already holds it, or when it may take it over (see `takeover`); otherwise the current holder
 * keeps it (`Left`).
 *
 * @since 0.2.0
 */
export const acquire = (
  current: Encoded | undefined,
  request: Request,
  now: number
): Either.Either<Encoded, Encoded> => {
  if (
    current !== undefined && isLive(current, now) && current.owner !== request.owner &&
    takeover(current, request) === undefined
  ) {
    return Either.left(current)
  }
  return Either.right({
    runId: request.runId,
    owner: request.owner,
    epoch: (current?.epoch ?? 0) + 1,
    acquiredAt: now,
    expiresAt: now + request.ttlMs,
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
