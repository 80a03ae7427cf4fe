/** Run leases in table `multirun_leases`, and the fencing of writes by lease epoch. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { BackendError, RunError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import * as Lease from "@multirun/core/Lease"
import { Effect } from "effect"
import { backendError } from "../StoreError.js"

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

/** The lease operations of `MultiRunClientService` for one project. */
export const make = (sql: SqlClient, project: string, location?: string) => {
  const current = (runId: string) =>
    Effect.map(
      sql`SELECT owner, epoch, acquired_at, expires_at, ttl_ms FROM multirun_leases
        WHERE project = ${project} AND run_id = ${runId}`.values,
      (rows) => rows[0] === undefined ? undefined : leaseOf(runId, rows[0] as unknown as LeaseRow)
    )
  const failed = (operation: string) => (error: SqlError) => backendError(operation, location)(error)

  const acquireLease = (request: Lease.Request): Effect.Effect<Lease.Encoded, BackendError | RunError> =>
    Effect.gen(function*() {
      const expiresAt = request.now + request.ttlMs
      // one statement: the row is taken only if it is free, expired or already this owner's
      const taken = yield* sql`INSERT INTO multirun_leases
        (project, run_id, owner, epoch, acquired_at, expires_at, ttl_ms)
        VALUES (${project}, ${request.runId}, ${request.owner}, 1, ${request.now}, ${expiresAt}, ${request.ttlMs})
        ON CONFLICT (project, run_id) DO UPDATE SET owner = excluded.owner, epoch = multirun_leases.epoch + 1,
          acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, ttl_ms = excluded.ttl_ms
        WHERE multirun_leases.expires_at <= excluded.acquired_at OR multirun_leases.owner = excluded.owner
          OR multirun_leases.owner = ${request.replaces ?? null}
        RETURNING owner, epoch, acquired_at, expires_at, ttl_ms`.values
      if (taken[0] !== undefined) return leaseOf(request.runId, taken[0] as unknown as LeaseRow)
      const holder = yield* current(request.runId)
      // the holder released or lost the row between the two statements: try once more
      if (holder === undefined || holder.expiresAt <= request.now) return yield* acquireLease(request)
      return yield* Effect.fail(Lease.locked(holder))
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(failed("acquireLease")(error))))

  const renewLease = (lease: Lease.Encoded, now: number): Effect.Effect<Lease.Encoded, BackendError | RunError> =>
    Effect.gen(function*() {
      const renewed = yield* sql`UPDATE multirun_leases SET expires_at = ${now} + ttl_ms
        WHERE project = ${project} AND run_id = ${lease.runId} AND epoch = ${lease.epoch} AND owner = ${lease.owner}
        RETURNING owner, epoch, acquired_at, expires_at, ttl_ms`.values
      if (renewed[0] !== undefined) return leaseOf(lease.runId, renewed[0] as unknown as LeaseRow)
      return yield* Effect.fail(Lease.fenced(lease, yield* current(lease.runId)))
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(failed("renewLease")(error))))

  const releaseLease = (lease: Lease.Encoded): Effect.Effect<void, BackendError> =>
    sql`UPDATE multirun_leases SET expires_at = 0
      WHERE project = ${project} AND run_id = ${lease.runId} AND epoch = ${lease.epoch} AND owner = ${lease.owner}`.pipe(
      Effect.asVoid,
      Effect.mapError(failed("releaseLease"))
    )

  return { acquireLease, renewLease, releaseLease }
}

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
