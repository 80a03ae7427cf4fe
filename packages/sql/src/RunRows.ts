/**
 * How the store reads runs (`multirun_runs`, each with its lease from `multirun_leases`), for
 * readers that query runs with paging and search of their own, such as the server's viewer
 * pages: a run is read with `stalled` when it is `running` and its lease expired by the
 * database's clock (see `Run.Stalled`), and `status` filters as `Run.RunFilter` says.
 *
 * @since 0.3.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { BackendError } from "@multirun/core/Errors"
import type * as Run from "@multirun/core/Run"
import { Effect } from "effect"
import * as Queries from "./internal/queries.js"
import { backendError } from "./StoreError.js"

/**
 * Which runs {@link list} reads: a run filter, plus `search` (text the name contains, in any
 * case, or a tag or the run's id equals; since 0.3 also the runs in `searchIds`, such as those a
 * short id names, see {@link ids}) and `after` (the page after that run, newest first).
 *
 * @since 0.3.0
 */
export type Query = Queries.RunsQuery

/**
 * A project's runs for a query, newest first (`startedAt`, then `id`, descending), at most
 * `limit` (default 100), each validated: a corrupt row is `BackendError("Corrupt")` naming the
 * table and the run id.
 *
 * @since 0.3.0
 */
export const list = (sql: SqlClient, project: string, query: Query): Effect.Effect<Array<Run.Encoded>, BackendError> =>
  Queries.selectRuns(sql, project, query).values.pipe(
    Effect.mapError(backendError("listRuns")),
    Effect.flatMap((rows) => Queries.decodeRuns("listRuns", rows))
  )

/**
 * Whether the project has a run with this id.
 *
 * @since 0.3.0
 */
export const exists = (sql: SqlClient, project: string, runId: string): Effect.Effect<boolean, BackendError> =>
  sql`SELECT 1 FROM multirun_runs WHERE project = ${project} AND id = ${runId}`.values.pipe(
    Effect.mapError(backendError("getRun")),
    Effect.map((rows) => rows.length > 0)
  )

/**
 * Every run id of a project, for a caller that looks runs up by something SQL cannot compute,
 * such as the short id the viewer shows (a hash of the id): one pass over the ids, no records.
 *
 * @since 0.3.0
 */
export const ids = (sql: SqlClient, project: string): Effect.Effect<Array<string>, BackendError> =>
  sql`SELECT id FROM multirun_runs WHERE project = ${project}`.values.pipe(
    Effect.mapError(backendError("listRuns")),
    Effect.map((rows) => rows.map(([id]) => String(id)))
  )
