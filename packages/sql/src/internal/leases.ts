/** Run leases in table `multirun_leases`, and the fencing of writes by lease epoch. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { BackendError, RunError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import * as Lease from "@multirun/core/Lease"
import { Clock, Duration, Effect } from "effect"
import { backendError } from "../StoreError.js"
import { databaseNow } from "./sql.js"

type LeaseRow = readonly [owner: string, epoch: unknown, acquiredAt: unknown, expiresAt: unknown, ttlMs: unknown]

/** A row as a lease (PostgreSQL returns BIGINT columns as text). */
const leaseOf = (runId: string, [owner, epoch, acquiredAt, expiresAt, ttlMs]: LeaseRow): Lease.Encoded => ({
  runId,
  owner,
  epoch: Number(epoch),
  acquiredAt: Number(acquiredAt),
  expiresAt: Number(expiresAt),
  ttlMs: Number(ttlMs)
})

/**
 * The lease operations of `MultiRunClientService` for one project, on the database's clock.
 *
 * A SQLite database has no clock of its own: its time is the clock of the process that runs the
 * statement, and a process whose clock runs ahead would see a live lease as expired. So on
 * SQLite a lease that looks expired but was neither released nor held by an owner known to be
 * dead is taken only after it stayed unchanged for half its time to live, measured on this
 * process's timer: a live owner renews it every third of it, and that renewal refuses the
 * takeover (`Locked`), whatever the two clocks say.
 */
export const make = (sql: SqlClient, project: string, location?: string) => {
  const current = (runId: string) =>
    Effect.map(
      sql`SELECT owner, epoch, acquired_at, expires_at, ttl_ms, ${databaseNow(sql)} FROM multirun_leases
        WHERE project = ${project} AND run_id = ${runId}`.values,
      (rows) =>
        rows[0] === undefined
          ? undefined
          : { lease: leaseOf(runId, rows[0] as unknown as LeaseRow), now: Number(rows[0][5]) }
    )
  const failed = (operation: string) => (error: SqlError) => backendError(operation, location)(error)
  const confirms = sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })

  /**
   * One statement: the row is taken only if the run exists and the lease is released, this
   * owner's, one the request may take over (`Lease.takeover`), or expired by the database's
   * clock (on SQLite only once `seen`, the same lease observed before, has not changed).
   */
  const take = (request: Lease.Request, seen: Lease.Encoded | undefined) => {
    const replaces = request.replaces !== undefined &&
        (request.force === true || Lease.isDeadLocalOwner(request.replaces))
      ? request.replaces
      : null
    const expired = !confirms
      ? sql`multirun_leases.expires_at <= excluded.acquired_at`
      : seen === undefined
      ? sql`0 = 1`
      : sql`(multirun_leases.expires_at <= excluded.acquired_at AND multirun_leases.epoch = ${seen.epoch}
          AND multirun_leases.owner = ${seen.owner} AND multirun_leases.expires_at = ${seen.expiresAt})`
    return sql`INSERT INTO multirun_leases (project, run_id, owner, epoch, acquired_at, expires_at, ttl_ms)
      SELECT ${project}, ${request.runId}, ${request.owner}, 1, n.now, n.now + n.ttl, n.ttl
      FROM (SELECT ${databaseNow(sql)} AS now, CAST(${request.ttlMs} AS BIGINT) AS ttl) n
      WHERE EXISTS (SELECT 1 FROM multirun_runs WHERE project = ${project} AND id = ${request.runId})
      ON CONFLICT (project, run_id) DO UPDATE SET owner = excluded.owner, epoch = multirun_leases.epoch + 1,
        acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, ttl_ms = excluded.ttl_ms
      WHERE multirun_leases.expires_at = 0 OR multirun_leases.owner = excluded.owner
        OR multirun_leases.owner = ${replaces} OR ${expired}
      RETURNING owner, epoch, acquired_at, expires_at, ttl_ms`.values
  }

  const acquireLease = (
    request: Lease.Request,
    seen?: Lease.Encoded
  ): Effect.Effect<Lease.Encoded, BackendError | RunError> =>
    Effect.gen(function*() {
      const invalid = Lease.invalidTtl(request.runId, request.ttlMs)
      if (invalid !== undefined) return yield* Effect.fail(invalid)
      const before = request.force === true ? yield* current(request.runId) : undefined
      const taken = yield* take(request, seen)
      if (taken[0] !== undefined) {
        const lease = leaseOf(request.runId, taken[0] as unknown as LeaseRow)
        if (before !== undefined && Lease.isForced(before.lease, request, lease.acquiredAt)) {
          yield* Effect.logWarning(Lease.forcedMessage(before.lease, request))
        }
        return lease
      }
      const exists = yield* sql`SELECT 1 FROM multirun_runs WHERE project = ${project} AND id = ${request.runId}`
      if (exists.length === 0) return yield* Effect.fail(Lease.noSuchRun(request.runId))
      const holder = yield* current(request.runId)
      // the holder's row went between the two statements: try once more
      if (holder === undefined) return yield* acquireLease(request)
      // on SQLite, a lease seen before that changed since: its owner renewed it, so it lives
      if (Lease.isLive(holder.lease, holder.now) || seen !== undefined) {
        return yield* Effect.fail(Lease.locked(holder.lease))
      }
      // expired by this database's clock, but on SQLite that is this process's clock
      if (confirms) yield* realTime.sleep(Duration.millis(Math.ceil(holder.lease.ttlMs / 2)))
      return yield* acquireLease(request, confirms ? holder.lease : undefined)
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(failed("acquireLease")(error))))

  const renewLease = (lease: Lease.Encoded): Effect.Effect<Lease.Encoded, BackendError | RunError> =>
    Effect.gen(function*() {
      const renewed = yield* sql`UPDATE multirun_leases SET expires_at = ${databaseNow(sql)} + ttl_ms
        WHERE project = ${project} AND run_id = ${lease.runId} AND epoch = ${lease.epoch} AND owner = ${lease.owner}
        RETURNING owner, epoch, acquired_at, expires_at, ttl_ms`.values
      if (renewed[0] !== undefined) return leaseOf(lease.runId, renewed[0] as unknown as LeaseRow)
      return yield* Effect.fail(Lease.fenced(lease, (yield* current(lease.runId))?.lease))
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(failed("renewLease")(error))))

  const releaseLease = (lease: Lease.Encoded): Effect.Effect<void, BackendError> =>
    sql`UPDATE multirun_leases SET expires_at = 0
      WHERE project = ${project} AND run_id = ${lease.runId} AND epoch = ${lease.epoch} AND owner = ${lease.owner}`.pipe(
      Effect.asVoid,
      Effect.mapError(failed("releaseLease"))
    )

  return { acquireLease: (request: Lease.Request) => acquireLease(request), renewLease, releaseLease }
}

/** This process's timer, whatever `Clock` the caller runs with: the database's time is real time. */
const realTime = Clock.make()

/**
 * The current lease epochs of the runs that `writes` belong to, read inside the caller's
 * transaction. On PostgreSQL the rows are locked for share, so an acquisition waits until the
 * transaction ends: a write checked here cannot land after a newer owner took the run.
 */
export const currentEpochs = (
  sql: SqlClient,
  project: string,
  writes: Iterable<{ readonly runId: string; readonly epoch: number | undefined }>
): Effect.Effect<Map<string, number>, SqlError> => {
  const runIds = new Set<string>()
  for (const write of writes) if (write.epoch !== undefined) runIds.add(write.runId)
  if (runIds.size === 0) return Effect.succeed(new Map())
  const ids = [...runIds]
  const select = sql.onDialectOrElse({
    pg: () =>
      sql`SELECT run_id, epoch FROM multirun_leases WHERE project = ${project} AND ${sql.in("run_id", ids)}
        FOR SHARE`.values,
    orElse: () =>
      sql`SELECT run_id, epoch FROM multirun_leases WHERE project = ${project} AND ${sql.in("run_id", ids)}`.values
  })
  return Effect.map(select, (rows) => new Map(rows.map(([runId, epoch]) => [String(runId), Number(epoch)])))
}

/** Splits writes into those their writer may still make and those fenced out. */
export const fence = <W extends Event.Write>(
  sql: SqlClient,
  project: string,
  writes: ReadonlyArray<W>
): Effect.Effect<{ readonly kept: Array<W>; readonly fenced: Array<W> }, SqlError> =>
  Effect.map(
    currentEpochs(sql, project, writes.map((write) => ({ runId: Event.runIdOf(write), epoch: write.epoch }))),
    (epochs) => {
      const kept: Array<W> = []
      const fenced: Array<W> = []
      for (const write of writes) {
        ;(Lease.isFenced(epochs.get(Event.runIdOf(write)), write.epoch) ? fenced : kept).push(write)
      }
      return { kept, fenced }
    }
  )
