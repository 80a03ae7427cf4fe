/**
 * How the store reads runs (`multirun_runs`, each with its lease from `multirun_leases`), for
 * readers that query runs with paging and search of their own, such as the server's viewer
 * pages: a run is read with `stalled` when it is `running` and its lease expired by the
 * database's clock (see `Run.Stalled`), and `status` filters as `Run.RunFilter` says.
 *
 * @since 0.3.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Statement } from "@effect/sql/Statement"
import type { BackendError } from "@multirun/core/Errors"
import type * as Run from "@multirun/core/Run"
import type { Effect } from "effect"
import * as Queries from "./internal/queries.js"

/**
 * Which runs {@link select} reads: a run filter, plus `search` (text the name contains, in any
 * case, or a tag equals) and `after` (the page after that run, newest first).
 *
 * @since 0.3.0
 */
export type Query = Queries.RunsQuery

/**
 * The statement that reads a project's runs for a query, newest first (`startedAt`, then `id`,
 * descending), at most `limit` (default 100): run it with `.values` and pass the rows to
 * {@link decode}.
 *
 * @since 0.3.0
 */
export const select = (sql: SqlClient, project: string, query: Query): Statement<unknown> =>
  Queries.selectRuns(sql, project, query)

/**
 * The runs of rows read with {@link select}, each validated: a corrupt row is
 * `BackendError("Corrupt")` naming the table and the run id, `operation` the read.
 *
 * @since 0.3.0
 */
export const decode = (
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>
): Effect.Effect<Array<Run.Encoded>, BackendError> => Queries.decodeRuns(operation, rows)
