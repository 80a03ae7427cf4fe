/** The reads of one project and the checkpoint insert, shared by `SqlStore` and `ProjectView`. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type * as Agent from "@multirun/core/Agent"
import type * as Checkpoint from "@multirun/core/Checkpoint"
import { type BackendError, CheckpointError } from "@multirun/core/Errors"
import type { MultiRunClientService } from "@multirun/core/MultiRunClient"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import { Effect, Option } from "effect"
import { stepColumns, stepOfRow } from "./records.js"
import { backendError } from "../StoreError.js"
import { isUniqueViolation } from "./sql.js"

/** What a project's queries offer: every read of a backend and the checkpoint insert. */
export type Queries = Pick<
  MultiRunClientService,
  "getRun" | "listRuns" | "listAgents" | "listSteps" | "getCheckpoint" | "listCheckpoints" | "saveCheckpoint"
>

interface CheckpointRow {
  readonly id: string
  readonly run_id: string
  readonly payload: string
}

/**
 * Turns rows read with `.values` (arrays, not objects: a restore reads every step of a run, and
 * row objects cost more than the parse of small records) into records.
 */
const parseRows = <A>(
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  parse: (row: ReadonlyArray<unknown>) => A
): Effect.Effect<Array<A>, BackendError> =>
  Effect.try({
    try: () => {
      const records = new Array<A>(rows.length)
      for (let i = 0; i < rows.length; i++) records[i] = parse(rows[i]!)
      return records
    },
    catch: (cause) => backendError(operation)(`a stored record is not valid JSON (${String(cause)})`)
  })

const recordOfRow = (row: ReadonlyArray<unknown>) => JSON.parse(row[0] as string)

const parseCheckpoint = (row: CheckpointRow): Effect.Effect<Checkpoint.Encoded, CheckpointError> =>
  Effect.try({
    try: () => JSON.parse(row.payload) as Checkpoint.Encoded,
    catch: (cause) =>
      new CheckpointError({
        reason: "Corrupt",
        checkpointId: row.id,
        runId: row.run_id,
        detail: `the stored checkpoint payload is not valid JSON (${String(cause)})`
      })
  })

/** The queries of one project over `sql`: every read is filtered by the project. */
export const make = (sql: SqlClient, project: string): Queries => {
  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) =>
    Effect.mapError(statement, backendError(operation))
  return {
    getRun: (runId) =>
      query("getRun", sql`SELECT record FROM multirun_runs WHERE project = ${project} AND id = ${runId}`.values).pipe(
        Effect.flatMap((rows) => parseRows<Run.Encoded>("getRun", rows, recordOfRow)),
        Effect.map((runs) => Option.fromNullable(runs[0]))
      ),
    listRuns: (filter = {}) => {
      const where = [sql`project = ${project}`]
      if (filter.status !== undefined) where.push(sql`status = ${filter.status}`)
      if (filter.name !== undefined) where.push(sql`name = ${filter.name}`)
      if (filter.parentRunId !== undefined) where.push(sql`parent_run_id = ${filter.parentRunId}`)
      if (filter.tag !== undefined) {
        const tag = filter.tag
        where.push(sql.onDialectOrElse({
          pg: () => sql`tags::jsonb @> jsonb_build_array(${tag}::text)`,
          orElse: () => sql`EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ${tag})`
        }))
      }
      return query(
        "listRuns",
        sql`SELECT record FROM multirun_runs WHERE ${sql.and(where)}
          ORDER BY started_at DESC, id DESC LIMIT ${filter.limit ?? 100}`.values
      ).pipe(Effect.flatMap((rows) => parseRows<Run.Encoded>("listRuns", rows, recordOfRow)))
    },
    listAgents: (runId) =>
      query(
        "listAgents",
        sql`SELECT record FROM multirun_agents WHERE project = ${project} AND run_id = ${runId}
          ORDER BY started_at, id`.values
      ).pipe(Effect.flatMap((rows) => parseRows<Agent.Encoded>("listAgents", rows, recordOfRow))),
    listSteps: (runId) =>
      query(
        "listSteps",
        sql`SELECT ${sql.literal(stepColumns)} FROM multirun_steps WHERE project = ${project} AND run_id = ${runId}
          ORDER BY seq`.values
      ).pipe(Effect.flatMap((rows) => parseRows<Step.Encoded>("listSteps", rows, stepOfRow))),
    getCheckpoint: (checkpointId) =>
      query(
        "getCheckpoint",
        sql<CheckpointRow>`SELECT id, run_id, payload FROM multirun_checkpoints
          WHERE project = ${project} AND id = ${checkpointId}`
      ).pipe(
        Effect.flatMap((rows) => rows.length === 0 ? Effect.succeedNone : Effect.asSome(parseCheckpoint(rows[0]!)))
      ),
    listCheckpoints: (runId) =>
      query(
        "listCheckpoints",
        sql<CheckpointRow>`SELECT id, run_id, payload FROM multirun_checkpoints
          WHERE project = ${project} AND run_id = ${runId} ORDER BY version`
      ).pipe(Effect.flatMap((rows) => Effect.forEach(rows, parseCheckpoint))),
    saveCheckpoint: (checkpoint) =>
      sql`INSERT INTO multirun_checkpoints ${
        sql.insert({
          project,
          id: checkpoint.id,
          run_id: checkpoint.runId,
          version: checkpoint.version,
          created_at: Math.floor(checkpoint.createdAt),
          payload: JSON.stringify(checkpoint)
        })
      } ON CONFLICT (project, id) DO NOTHING`.pipe(
        Effect.mapError((error) =>
          isUniqueViolation(error)
            ? new CheckpointError({
              reason: "Conflict",
              checkpointId: checkpoint.id,
              runId: checkpoint.runId,
              detail: `version ${checkpoint.version} of this run was already saved by another writer; ` +
                `resume from the latest checkpoint instead of writing to the same run twice`
            })
            : backendError("saveCheckpoint")(error)
        ),
        Effect.asVoid
      )
  }
}
