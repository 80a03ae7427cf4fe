/**
 * How the store keeps a step in a row of `multirun_steps` (schema version 4: a column per
 * field, ids and the input hash as bytes): the pages of a run's steps the server's viewer reads,
 * and for readers that query that table with SQL of their own the columns to select, a run id
 * as the table stores it, and the readers that decode and validate the rows.
 *
 * @since 0.2.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import type * as Step from "@multirun/core/Step"
import { Effect, Schema } from "effect"
import { backendError } from "./StoreError.js"
import { dialectOf, parseRows, type RowReader, stepRows } from "./internal/queries.js"
import { stepConditions } from "./internal/stepFilter.js"
import * as Internal from "./internal/stepRows.js"

/**
 * The columns a step is read from in the dialect of `sql`, for `SELECT`: pass the rows read with
 * `.values` to {@link decode}.
 *
 * @since 0.2.0
 */
export const columns = (sql: SqlClient): Fragment => sql.literal(Internal.stepColumns(dialectOf(sql)))

/**
 * The same columns with the input and output read as NULL, for {@link decodeSummaries}.
 *
 * @since 0.2.0
 */
export const summaryColumns = (sql: SqlClient): Fragment => sql.literal(Internal.stepColumns(dialectOf(sql), true))

/**
 * A run id as the `run_id` column holds it, to compare with in a `WHERE`.
 *
 * @since 0.2.0
 */
export const runKey = (runId: string): Uint8Array => Internal.idBytes(runId)!

/**
 * The steps of rows read as values of {@link columns}, each validated: a corrupt row is
 * `BackendError("Corrupt")` naming the table and the step id, `operation` the read.
 *
 * @since 0.2.0
 */
export const decode = (
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>
): Effect.Effect<Array<Step.Encoded>, BackendError> => parseRows(operation, rows, stepRows)

const summaryRows: RowReader<Api.StepSummary> = {
  ...stepRows,
  parse: (row) => {
    const { input: _input, output: _output, ...summary } = Internal.stepOfRow(row)
    return summary
  },
  validate: Schema.validateEither(Api.StepSummary)
}

/**
 * The step summaries (no input and output) of rows read as values of {@link summaryColumns},
 * validated like {@link decode}.
 *
 * @since 0.2.0
 */
export const decodeSummaries = (
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>
): Effect.Effect<Array<Api.StepSummary>, BackendError> => parseRows(operation, rows, summaryRows)

/**
 * The columns a step is written to, in the order of {@link bind}: for code that inserts step
 * rows with SQL of its own (the raw-insert baseline of the benchmarks).
 *
 * @since 0.2.0
 */
export const writeColumns: ReadonlyArray<string> = Internal.stepWriteColumns

/**
 * The parameters of one step row of `project`, in the order of {@link writeColumns}.
 *
 * @since 0.2.0
 */
export const bind = (project: string, step: Step.Encoded): Array<unknown> => {
  const params: Array<unknown> = []
  Internal.bindStep(params, project, step)
  return params
}

/**
 * Which steps of a run a page holds: those with `seq > afterSeq` (all when absent), at most
 * `limit` (all when absent), in `seq` order; since 0.3 only those the filter fields keep (see
 * `Api.StepFilter`: agent name, kind, status with `replayed` and `drifted`, text in the name, and
 * text in the input, output or error, in any case).
 *
 * @since 0.3.0
 */
export interface Page extends Api.StepFilter {
  readonly afterSeq?: number | undefined
  readonly limit?: number | undefined
}

/** The rows of a page of a run's steps, `columns` selected. */
const pageRows = (sql: SqlClient, selected: Fragment, project: string, runId: string, page: Page, operation: string) =>
  Effect.flatMap(
    stepConditions(sql, project, runId, page),
    (conditions) =>
      conditions === undefined
        ? Effect.succeed([])
        : sql`SELECT ${selected} FROM multirun_steps WHERE ${
          sql.and([
            sql`project = ${project}`,
            sql`run_id = ${runKey(runId)}`,
            ...(page.afterSeq === undefined ? [] : [sql`seq > ${page.afterSeq}`]),
            ...conditions
          ])
        } ORDER BY seq LIMIT ${page.limit ?? 1_000_000_000}`.values.pipe(Effect.mapError(backendError(operation)))
  )

/**
 * A page of the steps of a project's run, each validated like {@link decode}.
 *
 * @since 0.3.0
 */
export const page = (
  sql: SqlClient,
  project: string,
  runId: string,
  page: Page
): Effect.Effect<Array<Step.Encoded>, BackendError> =>
  pageRows(sql, columns(sql), project, runId, page, "listSteps").pipe(
    Effect.flatMap((rows) => decode("listSteps", rows))
  )

/**
 * A page of the step summaries (no input and output) of a project's run, validated like
 * {@link decodeSummaries}: the timeline of a big run.
 *
 * @since 0.3.0
 */
export const summaryPage = (
  sql: SqlClient,
  project: string,
  runId: string,
  page: Page
): Effect.Effect<Array<Api.StepSummary>, BackendError> =>
  pageRows(sql, summaryColumns(sql), project, runId, page, "listSummaries").pipe(
    Effect.flatMap((rows) => decodeSummaries("listSummaries", rows))
  )
