/**
 * The reads of the run viewer that a `MultiRunClient` does not offer: runs searched and paged
 * by cursor, a run's steps paged by `seq`, step summaries (no input and output) for the
 * timeline of a big run, and two runs compared (their steps read in pages). Read by
 * `@multirun/sql` (runs by its `RunRows`, stalled ones judged on the database's clock; steps by
 * its `StepRows`), on SQLite and PostgreSQL.
 *
 * @since 0.2.0
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import type * as Run from "@multirun/core/Run"
import type * as RunDiff from "@multirun/core/RunDiff"
import type * as Step from "@multirun/core/Step"
import * as RunRows from "@multirun/sql/RunRows"
import * as StepRows from "@multirun/sql/StepRows"
import { Context, Effect, Layer, Option } from "effect"
import { runDownload } from "./internal/runDownload.js"
import * as RunCompare from "./RunCompare.js"
import { Store } from "./Store.js"
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

/** Steps read per query by a compare. */
const comparePage = 5_000

/** A run's steps for a compare, read in pages, each step kept with the fields the alignment reads. */
const stepsToCompare = (queries: QueriesService, project: string, runId: string) =>
  Effect.gen(function*() {
    const steps: Array<RunDiff.StepInput> = []
    for (let afterSeq: number | undefined = undefined;;) {
      const page: ReadonlyArray<Step.Encoded> = yield* queries.listSteps(project, runId, { afterSeq, limit: comparePage })
      for (const s of page) {
        const { agentId, costUsd, id, input, inputHash, kind, latencyMs, model, name, output, seq, status, tokensUsed } = s
        steps.push({ agentId, costUsd, id, input, inputHash, kind, latencyMs, model, name, output, seq, status, tokensUsed })
      }
      if (page.length < comparePage) return steps
      afterSeq = page[page.length - 1]!.seq
    }
  })

/**
 * `GET /api/runs/:runId/diff/:otherRunId`: the two runs of the project compared (404 when
 * either is not the project's).
 *
 * @since 0.3.0
 */
export const runDiff = (a: string, b: string) =>
  Effect.gen(function*() {
    const project = yield* Api.CurrentProject
    const queries = yield* Queries
    const view = yield* Effect.flatMap(Store, (store) => store.view(project))
    return yield* RunCompare.compare({
      getRun: view.getRun,
      listAgents: view.listAgents,
      listSteps: (runId) => stepsToCompare(queries, project, runId),
      // a checkpoint that cannot be read leaves the fork's inherited steps out of the compare
      getCheckpoint: (id) => Effect.catchTag(view.getCheckpoint(id), "CheckpointError", () => Effect.succeed(Option.none()))
    }, a, b, (runId) => new Api.NotFound({ message: `run ${runId} not found` }))
  })

/**
 * The `views` group: `GET /api/runs/:runId/steps/page`, `GET /api/runs/:runId/timeline`,
 * `GET /api/runs/:runId/diff/:otherRunId` and `GET /api/runs/:runId/export` (the run's JSON lines
 * as a download).
 *
 * @since 0.2.0
 */
export const layerHandlers = HttpApiBuilder.group(Api.Api, "views", (handlers) =>
  handlers
    .handle("steps", ({ path, urlParams }) =>
      json(ofRun(path.runId, (queries, project) => queries.listSteps(project, path.runId, urlParams))))
    .handle("timeline", ({ path, urlParams }) =>
      json(ofRun(path.runId, (queries, project) => queries.listSummaries(project, path.runId, urlParams))))
    .handle("diff", ({ path }) =>
      // made here from parsed records, as JSON already: not encoded through the schema again
      Effect.map(runDiff(path.runId, path.otherRunId), (diff) => HttpServerResponse.unsafeJson(diff)))
    .handle("export", ({ path }) => runDownload(path.runId)))
