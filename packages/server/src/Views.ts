/**
 * The reads of the run viewer that a `MultiRunClient` does not offer: runs searched and paged
 * by cursor, a run's steps paged by `seq`, and step summaries (no input and output) for the
 * timeline of a big run. Read by `@multirun/sql` (runs by its `RunRows`, stalled ones judged on
 * the database's clock; steps by its `StepRows`), on SQLite and PostgreSQL.
 *
 * @since 0.2.0
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import * as RunRows from "@multirun/sql/RunRows"
import * as StepRows from "@multirun/sql/StepRows"
import { Context, Effect, Layer } from "effect"
import { shortId } from "./internal/format.js"

/**
 * Which runs a page holds: the filter of `GET /api/runs` with `search` and `cursor`. Since 0.3
 * `search` also finds a run by its full id or its short id (as the viewer shows it).
 *
 * @since 0.2.0
 */
export type RunsQuery = typeof Api.RunFilterParams.Type

/**
 * Which steps a page holds: those with `seq > afterSeq`, at most `limit` of them.
 *
 * @since 0.2.0
 */
export type StepsQuery = typeof Api.StepsPageParams.Type

/**
 * The viewer's queries, each within one project.
 *
 * @since 0.2.0
 */
export interface QueriesService {
  readonly listRuns: (project: string, query: RunsQuery) => Effect.Effect<ReadonlyArray<Run.Encoded>, BackendError>
  readonly listSteps: (
    project: string,
    runId: string,
    query: StepsQuery
  ) => Effect.Effect<ReadonlyArray<Step.Encoded>, BackendError>
  readonly listSummaries: (
    project: string,
    runId: string,
    query: StepsQuery
  ) => Effect.Effect<ReadonlyArray<Api.StepSummary>, BackendError>
  readonly runExists: (project: string, runId: string) => Effect.Effect<boolean, BackendError>
}

/**
 * The queries tag.
 *
 * @since 0.2.0
 */
export class Queries extends Context.Tag("@multirun/server/Views/Queries")<Queries, QueriesService>() {}

/** The runs whose short id (as the viewer and CLI show it) is `search`, when it looks like one. */
const shortIdMatches = (sql: SqlClient.SqlClient, project: string, search: string | undefined) => {
  const text = search?.trim().toLowerCase() ?? ""
  return /^[0-9a-f]{8}$/.test(text)
    ? Effect.map(RunRows.ids(sql, project), (ids) => ids.filter((id) => shortId(id) === text))
    : Effect.succeed(undefined)
}

/**
 * The queries over the `SqlClient` in context (the tables made by `@multirun/sql`).
 *
 * @since 0.2.0
 */
export const makeQueries: Effect.Effect<QueriesService, never, SqlClient.SqlClient> = Effect.map(
  SqlClient.SqlClient,
  (sql) =>
    Queries.of({
      listRuns: (project, { cursor, ...query }) =>
        Effect.flatMap(shortIdMatches(sql, project, query.search), (searchIds) =>
          RunRows.list(sql, project, {
            ...query,
            searchIds,
            after: cursor === undefined ? undefined : Api.parseRunsCursor(cursor)
          })),
      listSteps: (project, runId, query) => StepRows.page(sql, project, runId, query),
      listSummaries: (project, runId, query) => StepRows.summaryPage(sql, project, runId, query),
      runExists: (project, runId) => RunRows.exists(sql, project, runId)
    })
)

/**
 * The queries over the `SqlClient` in context.
 *
 * @since 0.2.0
 */
export const layerQueries: Layer.Layer<Queries, never, SqlClient.SqlClient> = Layer.effect(Queries, makeQueries)

/**
 * Whether a runs request uses what only {@link Queries} answers (search or cursor).
 *
 * @since 0.2.0
 */
export const isRunsPage = (query: RunsQuery): boolean => query.search !== undefined || query.cursor !== undefined

const withProject = <A, E>(
  f: (queries: QueriesService, project: string) => Effect.Effect<A, E>
): Effect.Effect<A, E, Queries | Api.CurrentProject> =>
  Effect.flatMap(Api.CurrentProject, (project) => Effect.flatMap(Queries, (queries) => f(queries, project)))

/** Fails with 404 when the run is not the project's. */
const ofRun = <A, E>(
  runId: string,
  f: (queries: QueriesService, project: string) => Effect.Effect<A, E>
): Effect.Effect<A, E | BackendError | Api.NotFound, Queries | Api.CurrentProject> =>
  withProject((queries, project) =>
    Effect.flatMap(
      queries.runExists(project, runId),
      (exists): Effect.Effect<A, E | Api.NotFound> =>
        exists ? f(queries, project) : Effect.fail(new Api.NotFound({ message: `run ${runId} not found` }))
    ))

/**
 * `GET /api/runs` with `search` or `cursor`.
 *
 * @since 0.2.0
 */
export const runsPage = (query: RunsQuery) => withProject((queries, project) => queries.listRuns(project, query))

/**
 * Pages of records as JSON. The records were checked against their schemas when written and
 * parsed from the store just now; encoding thousands of them again through the schema would
 * cost more than the query (a 100,000-step run is read in pages of 5,000).
 */
const json = <E, R>(self: Effect.Effect<ReadonlyArray<unknown>, E, R>) =>
  Effect.map(self, (records) => HttpServerResponse.unsafeJson(records))

/**
 * The `views` group: `GET /api/runs/:runId/steps/page` and `GET /api/runs/:runId/timeline`.
 *
 * @since 0.2.0
 */
export const layerHandlers = HttpApiBuilder.group(Api.Api, "views", (handlers) =>
  handlers
    .handle("steps", ({ path, urlParams }) =>
      json(ofRun(path.runId, (queries, project) => queries.listSteps(project, path.runId, urlParams))))
    .handle("timeline", ({ path, urlParams }) =>
      json(ofRun(path.runId, (queries, project) => queries.listSummaries(project, path.runId, urlParams)))))
