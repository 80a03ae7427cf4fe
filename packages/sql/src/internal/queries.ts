/** The reads of one project, the checkpoint insert and the leases, shared by `SqlStore` and `ProjectView`. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Fragment, Statement } from "@effect/sql/Statement"
import type * as Agent from "@multirun/core/Agent"
import * as Checkpoint from "@multirun/core/Checkpoint"
import { BackendError, CheckpointError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import * as Lease from "@multirun/core/Lease"
import type { MultiRunClientService } from "@multirun/core/MultiRunClient"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import { Effect, Either, Option, ParseResult, Schedule, Schema } from "effect"
import { idBytes, idOfHex, isPlainStep, stepColumns, stepOfRow } from "./stepRows.js"
import { backendError } from "../StoreError.js"
import * as Leases from "./leases.js"
import { isUniqueViolation, stalledLease } from "./sql.js"

/** What a project's queries offer: every read of a backend, the checkpoint insert and the leases. */
export type Queries = Omit<MultiRunClientService, "writeRun" | "writeAgent" | "writeStep" | "flush">

interface CheckpointRow {
  readonly id: string
  readonly run_id: string
  readonly payload: string
}

/** How the rows of one table become records, and the schema every record read must satisfy. */
export interface RowReader<A> {
  readonly table: string
  readonly parse: (row: ReadonlyArray<unknown>) => A
  /** The id of a row (its first column), as errors name it. */
  readonly id: (row: ReadonlyArray<unknown>) => unknown
  readonly validate: (record: unknown) => Either.Either<unknown, ParseResult.ParseError>
}

/** The dialect of `sql`, as the step row layout names it. */
export const dialectOf = (sql: SqlClient): "pg" | "sqlite" =>
  sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })

const corrupt = (operation: string, table: string, id: unknown, detail: string) =>
  new BackendError({
    operation,
    reason: "Corrupt",
    detail: `row ${String(id)} of ${table} is corrupt: ${detail}; ` +
      "restore the database from a backup, or delete the run it belongs to"
  })

/**
 * Turns rows read with `.values` (arrays, not objects: a restore reads every step of a run, and
 * row objects cost more than the parse of small records) into records, each decoded: a row that
 * is not valid JSON or not a valid record is `BackendError("Corrupt")` naming table and id.
 */
export const parseRows = <A>(
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  reader: RowReader<A>
): Effect.Effect<Array<A>, BackendError> =>
  Effect.suspend(() => {
    const records = new Array<A>(rows.length)
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!
      let record: A
      try {
        record = reader.parse(row)
      } catch (cause) {
        return Effect.fail(corrupt(operation, reader.table, reader.id(row), `not valid JSON (${String(cause)})`))
      }
      const valid = reader.validate(record)
      if (Either.isLeft(valid)) {
        return Effect.fail(
          corrupt(operation, reader.table, reader.id(row), ParseResult.TreeFormatter.formatErrorSync(valid.left))
        )
      }
      records[i] = record
    }
    return Effect.succeed(records)
  })

const recordOfRow = (row: ReadonlyArray<unknown>) => JSON.parse(row[1] as string)
const firstColumn = (row: ReadonlyArray<unknown>) => row[0]

/**
 * Runs read by {@link selectRuns}: the record, with `stalled` when the row came with the lease
 * that makes it so (see `Run.Stalled`).
 */
const runRows: RowReader<Run.Encoded> = {
  table: "multirun_runs",
  parse: (row) => {
    const run: Run.Encoded = JSON.parse(row[1] as string)
    if (row[2] === null) return run
    const lease = { acquiredAt: Number(row[3]), expiresAt: Number(row[4]), ttlMs: Number(row[5]) }
    return { ...run, stalled: { owner: row[2] as string, lastSeenAt: Lease.lastSeenAt(lease) } }
  },
  id: firstColumn,
  validate: Schema.validateEither(Event.RunRecord)
}

/**
 * Which runs {@link selectRuns} reads: a run filter, plus text the name contains (any case), a
 * tag or the id equals (or the ids in `searchIds`), and the page after a run (newest first: `startedAt` then `id`, descending).
 */
export interface RunsQuery extends Run.RunFilter {
  readonly search?: string | undefined
  /** Runs the search finds by id besides its own matches (a short id resolved by the caller). */
  readonly searchIds?: ReadonlyArray<string> | undefined
  readonly after?: { readonly startedAt: number; readonly id: string } | undefined
}

/** Every run of the table `r`, joined to its lease `l` only when the lease makes it stalled. */
const runsWithLeases = (sql: SqlClient): Fragment =>
  sql`SELECT r.id, r.record, l.owner, l.acquired_at, l.expires_at, l.ttl_ms
    FROM multirun_runs r LEFT JOIN multirun_leases l ON ${stalledLease(sql)}`

/** Whether the run row `r` carries `tag`. */
const hasTag = (sql: SqlClient, tag: string): Fragment =>
  sql.onDialectOrElse({
    pg: () => sql`r.tags::jsonb @> jsonb_build_array(${tag}::text)`,
    orElse: () => sql`EXISTS (SELECT 1 FROM json_each(r.tags) WHERE value = ${tag})`
  })

/** `%text%` for LIKE, with `\`, `%` and `_` escaped. */
export const containsPattern = (text: string) => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/**
 * The runs of a project a query asks for, newest first, read with `.values` for
 * {@link decodeRuns}. `status: "running"` leaves stalled runs out; `"stalled"` lists only them.
 */
export const selectRuns = (sql: SqlClient, project: string, query: RunsQuery): Statement<unknown> => {
  const where: Array<Fragment> = [sql`r.project = ${project}`]
  if (query.status === "stalled") where.push(sql`r.status = 'running' AND l.run_id IS NOT NULL`)
  else if (query.status === "running") where.push(sql`r.status = 'running' AND l.run_id IS NULL`)
  else if (query.status !== undefined) where.push(sql`r.status = ${query.status}`)
  if (query.name !== undefined) where.push(sql`r.name = ${query.name}`)
  if (query.parentRunId !== undefined) where.push(sql`r.parent_run_id = ${query.parentRunId}`)
  if (query.tag !== undefined) where.push(hasTag(sql, query.tag))
  const text = query.search?.trim() ?? ""
  if (text !== "") {
    where.push(sql.or([
      sql`LOWER(r.name) LIKE ${containsPattern(text)} ESCAPE '\\'`,
      hasTag(sql, text),
      sql`r.id = ${text}`,
      ...(query.searchIds === undefined || query.searchIds.length === 0 ? [] : [sql.in("r.id", query.searchIds)])
    ]))
  }
  const after = query.after
  if (after !== undefined) {
    where.push(sql`(r.started_at < ${after.startedAt} OR (r.started_at = ${after.startedAt} AND r.id < ${after.id}))`)
  }
  return sql`${runsWithLeases(sql)} WHERE ${sql.and(where)}
    ORDER BY r.started_at DESC, r.id DESC LIMIT ${query.limit ?? 100}`
}

/** The runs of rows read from {@link selectRuns}, each validated (a corrupt row is `BackendError("Corrupt")`). */
export const decodeRuns = (
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>
): Effect.Effect<Array<Run.Encoded>, BackendError> => parseRows(operation, rows, runRows)

const agentRows: RowReader<Agent.Encoded> = {
  table: "multirun_agents",
  parse: recordOfRow,
  id: firstColumn,
  validate: Schema.validateEither(Event.AgentRecord)
}
const validateStep = Schema.validateEither(Event.StepRecord)

/** Steps, from their columns (see `stepRows.ts`); the schema checks only those not plainly valid. */
export const stepRows: RowReader<Step.Encoded> = {
  table: "multirun_steps",
  parse: stepOfRow,
  id: (row) => idOfHex(row[0]),
  validate: (step) => isPlainStep(step as Step.Encoded) ? Either.right(step) : validateStep(step)
}

const validateCheckpoint = Schema.decodeUnknownEither(Checkpoint.Checkpoint)

/**
 * A checkpoint row's payload, parsed and decoded: a payload that is not JSON or not a checkpoint
 * (JSON `null`, a wrong shape) is `CheckpointError("Corrupt")` naming the row.
 */
const parseCheckpoint = (row: CheckpointRow): Effect.Effect<Checkpoint.Encoded, CheckpointError> => {
  const fail = (detail: string) =>
    Effect.fail(
      new CheckpointError({
        reason: "Corrupt",
        checkpointId: row.id,
        runId: row.run_id,
        detail: `the payload of row ${row.id} of multirun_checkpoints ${detail}; ` +
          "restore the database from a backup, or delete this checkpoint"
      })
    )
  let payload: unknown
  try {
    payload = JSON.parse(row.payload)
  } catch (cause) {
    return fail(`is not valid JSON (${String(cause)})`)
  }
  const valid = validateCheckpoint(payload)
  return Either.isLeft(valid)
    ? fail(`does not decode as a checkpoint: ${ParseResult.TreeFormatter.formatErrorSync(valid.left)}`)
    : Effect.succeed(payload as Checkpoint.Encoded)
}

/**
 * A statement that lost its connection (a PostgreSQL connection cut) runs again on a new one, a
 * few times: the reads and the checkpoint insert are idempotent, and the pool reconnects.
 */
const reconnecting = <A, E>(statement: Effect.Effect<A, E | BackendError>) =>
  Effect.retry(statement, {
    schedule: Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(3))),
    while: (error) => error instanceof BackendError && error.reason === "ConnectionLost"
  })

/**
 * The queries of one project over `sql`: every read is filtered by the project. Their errors name
 * `location` (the file or host) when given; a lost connection is retried (see `reconnecting`).
 */
// one object literal of the seven queries, each a few lines over the same client and project
export const make = (sql: SqlClient, project: string, location?: string): Queries => {
  const query = <A>(operation: string, statement: Effect.Effect<A, unknown>) =>
    reconnecting(Effect.mapError(statement, backendError(operation, location)))
  // the lease statements are idempotent too: a lost connection retries them like a read
  const { acquireLease, releaseLease, renewLease } = Leases.make(sql, project, location)
  const leases = {
    acquireLease: (request: Parameters<typeof acquireLease>[0]) => reconnecting(acquireLease(request)),
    renewLease: (lease: Parameters<typeof renewLease>[0]) => reconnecting(renewLease(lease)),
    releaseLease: (lease: Parameters<typeof releaseLease>[0]) => reconnecting(releaseLease(lease))
  }
  return {
    ...leases,
    getRun: (runId) =>
      query("getRun", sql`${runsWithLeases(sql)} WHERE r.project = ${project} AND r.id = ${runId}`.values).pipe(
        Effect.flatMap((rows) => decodeRuns("getRun", rows)),
        Effect.map((runs) => Option.fromNullable(runs[0]))
      ),
    listRuns: (filter = {}) =>
      query("listRuns", selectRuns(sql, project, filter).values).pipe(
        Effect.flatMap((rows) => decodeRuns("listRuns", rows))
      ),
    listAgents: (runId) =>
      query(
        "listAgents",
        sql`SELECT id, record FROM multirun_agents WHERE project = ${project} AND run_id = ${runId}
          ORDER BY started_at, id`.values
      ).pipe(Effect.flatMap((rows) => parseRows("listAgents", rows, agentRows))),
    listSteps: (runId) =>
      query(
        "listSteps",
        sql`SELECT ${sql.literal(stepColumns(dialectOf(sql)))} FROM multirun_steps WHERE project = ${project} AND run_id = ${idBytes(runId)}
          ORDER BY seq`.values
      ).pipe(Effect.flatMap((rows) => parseRows("listSteps", rows, stepRows))),
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
    saveCheckpoint: (checkpoint, epoch) => {
      const insert = sql`INSERT INTO multirun_checkpoints ${
        sql.insert({
          project,
          id: checkpoint.id,
          run_id: checkpoint.runId,
          version: checkpoint.version,
          created_at: Math.floor(checkpoint.createdAt),
          payload: JSON.stringify(checkpoint)
        })
      } ON CONFLICT (project, id) DO NOTHING`.pipe(Effect.as("stored" as const))
      const write = epoch === undefined ? insert : sql.withTransaction(
        Effect.flatMap(Leases.currentEpochs(sql, project, [{ runId: checkpoint.runId, epoch }]), (epochs) =>
          Lease.isFenced(epochs.get(checkpoint.runId), epoch)
            ? Effect.succeed("fenced" as const)
            : insert)
      )
      return write.pipe(
        Effect.mapError((error) =>
          isUniqueViolation(error)
            ? new CheckpointError({
              reason: "Conflict",
              checkpointId: checkpoint.id,
              runId: checkpoint.runId,
              detail: `version ${checkpoint.version} of this run was already saved by another writer; ` +
                `resume from the latest checkpoint instead of writing to the same run twice`
            })
            : backendError("saveCheckpoint", location)(error)
        ),
        // a COMMIT or ROLLBACK that fails (a cut connection) is a defect in @effect/sql
        Effect.catchAllDefect((defect) => Effect.fail(backendError("saveCheckpoint", location)(defect))),
        reconnecting,
        Effect.flatMap((result) =>
          result === "fenced"
            ? Effect.fail(Lease.fencedWrites("saveCheckpoint", [{ runId: checkpoint.runId, epoch }], location))
            : Effect.void
        )
      )
    }
  }
}
