/**
 * Retention: how long finished and stalled runs are kept (a TTL by status), how many checkpoints
 * a run keeps (`keepLast`), the queries that remove them on SQLite and PostgreSQL, what each
 * project stores, and how a SQLite file gives the space back.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Lease from "@multirun/core/Lease"
import { Clock, Duration, Effect, Either } from "effect"
import { retentionFragments } from "./internal/retentionSql.js"
import { stalledLease } from "./internal/sql.js"
import { idBytes } from "./internal/stepRows.js"

/**
 * A status a run can end in.
 *
 * @since 0.2.0
 */
export type FinishedStatus = "completed" | "failed" | "interrupted"

/**
 * The finished statuses, in the order reports list them.
 *
 * @since 0.2.0
 */
export const finishedStatuses: ReadonlyArray<FinishedStatus> = ["completed", "failed", "interrupted"]

/**
 * A status a run can be removed in: a finished one, or `stalled` (a `running` run whose owner
 * is gone, see `Run.Stalled`). A live `running` run is never removed.
 *
 * @since 0.3.0
 */
export type RemovableStatus = FinishedStatus | "stalled"

/**
 * The statuses a run can be removed in, in the order reports list them.
 *
 * @since 0.3.0
 */
export const removableStatuses: ReadonlyArray<RemovableStatus> = [...finishedStatuses, "stalled"]

/**
 * What a project keeps.
 *
 * - `olderThan`: per status, the age after which a run is removed with its agents, steps and
 *   checkpoints; the age counts from the run's end (its start when it has no end), and for a
 *   stalled run from when its owner was last seen. A status not listed is kept for ever (stalled
 *   runs too: they are removed only when the policy names `stalled`).
 * - `keepLast`: the newest checkpoints kept per run (at least 1); older ones are removed, except
 *   a checkpoint another run was forked from. Default: every checkpoint.
 *
 * A run another kept run was forked from is kept with it: restoring the fork reads the parent's
 * checkpoint and steps.
 *
 * @since 0.2.0
 */
export interface Policy {
  readonly olderThan?: Partial<Record<RemovableStatus, Duration.DurationInput>> | undefined
  readonly keepLast?: number | undefined
}

/**
 * What was (or, in a dry run, would be) removed from one project. `bytes` counts the stored
 * record texts (runs, agents, steps with their inputs and outputs, checkpoints).
 *
 * @since 0.2.0
 */
export interface Removed {
  readonly project: string
  readonly runs: Readonly<Record<RemovableStatus, number>>
  readonly agents: number
  readonly steps: number
  readonly checkpoints: number
  readonly bytes: number
}

/**
 * Options of {@link apply}: one project (default every project of the database), a dry run that
 * only counts, and how many runs are removed per transaction (default 200).
 *
 * @since 0.2.0
 */
export interface ApplyOptions {
  readonly project?: string | undefined
  readonly dryRun?: boolean | undefined
  readonly batchSize?: number | undefined
}

const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * Reads an age such as `30d`, `12h`, `90m`, `45s` or `2w`.
 *
 * @since 0.2.0
 */
export const parseAge = (text: string): Either.Either<Duration.Duration, string> => {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim())
  return match === null
    ? Either.left(`"${text}" is not an age: write a number and a unit, e.g. 30d, 12h, 90m, 45s or 2w`)
    : Either.right(Duration.millis(Number(match[1]) * units[match[2]!]!))
}

/**
 * Reads a policy written `completed=30d,failed=90d,stalled=7d,keepLast=5` (the form of
 * `multirun serve --retain`).
 *
 * @since 0.2.0
 */
export const parsePolicy = (text: string): Either.Either<Policy, string> => {
  const olderThan: Partial<Record<RemovableStatus, Duration.Duration>> = {}
  let keepLast: number | undefined
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const [key, value = ""] = part.split("=").map((s) => s.trim())
    if (key === "keepLast") {
      if (!/^\d+$/.test(value) || Number(value) < 1) {
        return Either.left(`keepLast=${value}: give a whole number of checkpoints, at least 1`)
      }
      keepLast = Number(value)
      continue
    }
    if (!(removableStatuses as ReadonlyArray<string>).includes(key!)) {
      return Either.left(
        `"${part}": expected completed=AGE, failed=AGE, interrupted=AGE, stalled=AGE or keepLast=N ` +
          "(live running runs are never removed)"
      )
    }
    const age = parseAge(value)
    if (Either.isLeft(age)) return Either.left(`${key}: ${age.left}`)
    olderThan[key as RemovableStatus] = age.right
  }
  return Either.right({ olderThan, keepLast })
}

/**
 * The projects that hold runs.
 *
 * @since 0.2.0
 */
export const projects: Effect.Effect<ReadonlyArray<string>, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ project: string }>`SELECT DISTINCT project FROM multirun_runs ORDER BY project`
).pipe(Effect.map((rows) => rows.map((row) => row.project)))

/**
 * Removes the checkpoints of a project (of one run when `runId` is given) beyond the newest
 * `keepLast` of each run, except those another run was forked from. Returns how many and their
 * bytes; `dryRun` only counts. Steps are never removed here: a kept checkpoint covers steps by
 * sequence number, and they stay.
 *
 * @since 0.2.0
 */
export const pruneCheckpoints = (options: {
  readonly project: string
  readonly keepLast: number
  readonly runId?: string | undefined
  readonly dryRun?: boolean | undefined
}): Effect.Effect<{ readonly checkpoints: number; readonly bytes: number }, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const f = retentionFragments(sql)
    const keep = Math.max(1, Math.floor(options.keepLast))
    const ofRun = options.runId === undefined ? sql`` : sql`AND run_id = ${options.runId}`
    const doomed = sql`SELECT ranked.id FROM (
        SELECT id, run_id, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY version DESC) AS position
        FROM multirun_checkpoints WHERE project = ${options.project} ${ofRun}
      ) ranked
      WHERE ranked.position > ${keep} AND NOT EXISTS (
        SELECT 1 FROM multirun_runs fork WHERE fork.project = ${options.project}
          AND fork.parent_run_id = ranked.run_id AND ${f.forkedFrom("fork")} = ranked.id)`
    const rows = options.dryRun === true
      ? yield* sql<{ bytes: unknown }>`SELECT ${f.bytes("payload")} AS bytes FROM multirun_checkpoints
          WHERE project = ${options.project} AND id IN (${doomed})`
      : yield* sql<{ bytes: unknown }>`DELETE FROM multirun_checkpoints
          WHERE project = ${options.project} AND id IN (${doomed}) RETURNING ${f.bytes("payload")} AS bytes`
    return { checkpoints: rows.length, bytes: rows.reduce((n, row) => n + Number(row.bytes), 0) }
  })

interface Candidate {
  readonly id: string
  readonly status: RemovableStatus
}

/**
 * The runs of a project the policy's ages remove at `now`, less every run a kept run was forked
 * from (and, through it, its own parents). A stalled run is judged on the database's clock, its
 * age counted from its owner's last sighting.
 */
const candidates = (
  project: string,
  policy: Policy,
  now: number
): Effect.Effect<Array<Candidate>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found: Array<Candidate> = []
    for (const status of finishedStatuses) {
      const age = policy.olderThan?.[status]
      if (age === undefined) continue
      const cutoff = now - Duration.toMillis(Duration.decode(age))
      const rows = yield* sql<{ id: string }>`SELECT id FROM multirun_runs
        WHERE project = ${project} AND status = ${status} AND COALESCE(ended_at, started_at) < ${cutoff}`
      for (const row of rows) found.push({ id: row.id, status })
    }
    const stalledAge = policy.olderThan?.stalled
    if (stalledAge !== undefined) {
      const cutoff = now - Duration.toMillis(Duration.decode(stalledAge))
      const rows = yield* sql<{ id: string; acquired_at: unknown; expires_at: unknown; ttl_ms: unknown }>`SELECT r.id,
        l.acquired_at, l.expires_at, l.ttl_ms FROM multirun_runs r JOIN multirun_leases l ON ${stalledLease(sql)}
        WHERE r.project = ${project}`
      for (const row of rows) {
        // PostgreSQL returns BIGINT columns as text
        const lease = { acquiredAt: Number(row.acquired_at), expiresAt: Number(row.expires_at), ttlMs: Number(row.ttl_ms) }
        if (Lease.lastSeenAt(lease) < cutoff) found.push({ id: row.id, status: "stalled" })
      }
    }
    if (found.length === 0) return found
    const forks = yield* sql<{ id: string; parent_run_id: string }>`SELECT id, parent_run_id FROM multirun_runs
      WHERE project = ${project} AND parent_run_id IS NOT NULL`
    const removed = new Set(found.map((c) => c.id))
    for (let changed = true; changed;) {
      changed = false
      for (const fork of forks) {
        if (!removed.has(fork.id) && removed.delete(fork.parent_run_id)) changed = true
      }
    }
    return found.filter((c) => removed.has(c.id))
  })

/** Counts (and unless `dryRun`, removes) the agents, steps and checkpoints of the runs `ids`. */
const removeChildren = (ids: ReadonlyArray<string>, project: string, dryRun: boolean) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const f = retentionFragments(sql)
    // the step table keeps run ids as bytes
    const stepRunIds = ids.map(idBytes)
    const tables = [
      ["agents", "multirun_agents", f.bytes("record"), ids],
      ["steps", "multirun_steps", f.stepBytes, stepRunIds],
      ["checkpoints", "multirun_checkpoints", f.bytes("payload"), ids]
    ] as const
    const counts = { agents: 0, steps: 0, checkpoints: 0, bytes: 0 }
    for (const [key, table, bytes, runIds] of tables) {
      const [row] = yield* sql<{ n: unknown; bytes: unknown }>`SELECT COUNT(*) AS n, COALESCE(SUM(${bytes}), 0) AS bytes
        FROM ${sql(table)} WHERE project = ${project} AND run_id IN ${sql.in(runIds)}`
      counts[key] = Number(row?.n ?? 0)
      counts.bytes += Number(row?.bytes ?? 0)
      if (!dryRun) yield* sql`DELETE FROM ${sql(table)} WHERE project = ${project} AND run_id IN ${sql.in(runIds)}`
    }
    // the runs' leases go with them (a removed run has ended or stalled: no live owner holds it)
    if (!dryRun) yield* sql`DELETE FROM multirun_leases WHERE project = ${project} AND run_id IN ${sql.in(ids)}`
    return counts
  })

/**
 * Applies a policy to one project: removes the runs past their status's age with their agents,
 * steps and checkpoints (one transaction per batch of runs, which starts by removing the runs
 * still finished or still stalled, so a run resumed meanwhile is left whole), then prunes
 * checkpoints to `keepLast`. A live `running` run is never removed. With `dryRun` nothing is
 * removed and the counts are what would be.
 *
 * @since 0.2.0
 */
export const applyToProject = (
  project: string,
  policy: Policy,
  options: Omit<ApplyOptions, "project"> = {}
): Effect.Effect<Removed, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const f = retentionFragments(sql)
    const dryRun = options.dryRun === true
    const now = yield* Clock.currentTimeMillis
    const found = yield* candidates(project, policy, now)
    const runs: Record<RemovableStatus, number> = { completed: 0, failed: 0, interrupted: 0, stalled: 0 }
    const total = { agents: 0, steps: 0, checkpoints: 0, bytes: 0 }
    const size = Math.max(1, options.batchSize ?? 200)
    for (let i = 0; i < found.length; i += size) {
      const slice = found.slice(i, i + size)
      const stalled = slice.filter((c) => c.status === "stalled").map((c) => c.id)
      // a finished run still finished, a stalled one still stalled
      const still = sql.or([
        sql`(${sql.in("id", slice.filter((c) => c.status !== "stalled").map((c) => c.id))} AND status <> 'running')`,
        sql`id IN (SELECT r.id FROM multirun_runs r JOIN multirun_leases l ON ${stalledLease(sql)}
          WHERE r.project = ${project} AND ${sql.in("r.id", stalled)})`
      ])
      const batch = Effect.gen(function*() {
        // the runs first: in SQLite the first statement of the transaction takes the write lock
        const gone = dryRun
          ? yield* sql<{ id: string; status: string; bytes: unknown }>`SELECT id, status,
              ${f.bytes("record")} AS bytes FROM multirun_runs WHERE project = ${project} AND ${still}`
          : yield* sql<{ id: string; status: string; bytes: unknown }>`DELETE FROM multirun_runs
              WHERE project = ${project} AND ${still} RETURNING id, status, ${f.bytes("record")} AS bytes`
        if (gone.length === 0) return
        for (const run of gone) {
          runs[run.status === "running" ? "stalled" : run.status as FinishedStatus]++
          total.bytes += Number(run.bytes)
        }
        const children = yield* removeChildren(gone.map((run) => run.id), project, dryRun)
        total.agents += children.agents
        total.steps += children.steps
        total.checkpoints += children.checkpoints
        total.bytes += children.bytes
      })
      yield* dryRun ? batch : sql.withTransaction(batch)
    }
    if (policy.keepLast !== undefined) {
      const pruned = yield* pruneCheckpoints({ project, keepLast: policy.keepLast, dryRun })
      total.checkpoints += pruned.checkpoints
      total.bytes += pruned.bytes
    }
    return { project, runs, ...total }
  })

/**
 * Applies a policy to one project (`options.project`) or to every project of the database, one
 * report per project. A per-project policy is `policyOf(project)`; a project it returns
 * `undefined` for is left alone.
 *
 * @since 0.2.0
 */
export const apply = (
  policyOf: Policy | ((project: string) => Policy | undefined),
  options: ApplyOptions = {}
): Effect.Effect<ReadonlyArray<Removed>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const names = options.project === undefined ? yield* projects : [options.project]
    const reports: Array<Removed> = []
    for (const project of names) {
      const policy = typeof policyOf === "function" ? policyOf(project) : policyOf
      if (policy !== undefined) reports.push(yield* applyToProject(project, policy, options))
    }
    return reports
  })

/**
 * Gives the space of removed rows back to the file system. SQLite (in incremental auto-vacuum
 * mode, which `SqliteClientLayer` sets) frees its unused pages, at most 1,000 per transaction
 * so writers are held up briefly, then truncates the write-ahead log: the file shrinks.
 * PostgreSQL's autovacuum reuses the space on its own: nothing to do there.
 *
 * @since 0.2.0
 */
export const reclaimSpace: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql): Effect.Effect<void, SqlError> =>
    sql.onDialectOrElse({
      sqlite: () => Effect.zipRight(freePages(sql), sql`PRAGMA wal_checkpoint(TRUNCATE)`),
      orElse: () => Effect.void
    })
).pipe(Effect.asVoid)

/**
 * Frees SQLite's unused pages. The driver steps a statement once, and one step of
 * `PRAGMA incremental_vacuum` frees one page, so the pragma runs once per page. Stops when a
 * round frees nothing (a file not in incremental mode keeps its free pages for reuse).
 */
const freePages = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const freeCount = Effect.map(sql<{ freelist_count: unknown }>`PRAGMA freelist_count`, ([row]) =>
      Number(row?.freelist_count ?? 0))
    for (let free = yield* freeCount, before = Infinity; free > 0 && free < before;) {
      yield* sql.withTransaction(Effect.repeatN(sql`PRAGMA incremental_vacuum`, Math.min(1_000, free) - 1))
      before = free
      free = yield* freeCount
    }
  })
