/**
 * The multirun backend over `@effect/sql`: one project's runs, agents, steps and checkpoints in
 * SQLite or PostgreSQL, written in batches through core's `BatchWriter`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Agent from "@multirun/core/Agent"
import * as BatchWriter from "@multirun/core/BatchWriter"
import type * as Checkpoint from "@multirun/core/Checkpoint"
import * as Checkpoints from "@multirun/core/Checkpoints"
import { type BackendError, CheckpointError } from "@multirun/core/Errors"
import type * as Event from "@multirun/core/Event"
import * as MultiRunClient from "@multirun/core/MultiRunClient"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import { Effect, Layer, Option } from "effect"
import type { Scope } from "effect"
import { coalesce, type Write, writeRecords } from "./internal/records.js"
import { backendError, isUniqueViolation } from "./internal/sql.js"

/**
 * How a store is scoped and buffered.
 *
 * - `project`: the project whose data the store reads and writes (default `"default"`).
 * - `maxBatch`: records per write transaction (default 1,000).
 * - `capacity`: records buffered before writers wait for the database (default 20,000).
 *
 * @since 0.1.0
 */
export interface Options {
  readonly project?: string | undefined
  readonly maxBatch?: number | undefined
  readonly capacity?: number | undefined
}

/**
 * The project a store uses when none is given.
 *
 * @since 0.1.0
 */
export const defaultProject = "default"

/**
 * A SQL backend: core's `MultiRunClient` plus the statistics of its writer.
 *
 * @since 0.1.0
 */
export interface SqlStore extends MultiRunClient.MultiRunClientService {
  readonly writerStats: Effect.Effect<BatchWriter.Stats>
}

interface CheckpointRow {
  readonly id: string
  readonly run_id: string
  readonly payload: string
}

/**
 * Parses the `record` column of rows read with `.values` (arrays, not objects: a restore reads
 * every step of a run, and row objects cost more than the parse of small records).
 */
const parseRecords = <A>(
  operation: string,
  rows: ReadonlyArray<ReadonlyArray<unknown>>
): Effect.Effect<Array<A>, BackendError> =>
  Effect.try({
    try: () => {
      const records = new Array<A>(rows.length)
      for (let i = 0; i < rows.length; i++) records[i] = JSON.parse(rows[i]![0] as string)
      return records
    },
    catch: (cause) => backendError(operation)(`a stored record is not valid JSON (${String(cause)})`)
  })

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

/**
 * Makes a store over the `SqlClient` in context, scoped to one project: every read is filtered
 * by it and every write tagged with it. Writes are buffered and written by one ordered writer,
 * each batch in one transaction with multi-row upserts (the last record of an id wins). Every
 * read and `saveCheckpoint` first flushes the writer, so they see every earlier write. The
 * tables must exist: `SqliteLayer` and `PgLayer` run `Migrations.run` first.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<SqlStore, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const project = options.project ?? defaultProject
    const writer = yield* BatchWriter.make<Write>({
      write: (batch) =>
        sql.withTransaction(writeRecords(sql, project, coalesce(batch))).pipe(Effect.mapError(backendError("write"))),
      maxBatch: options.maxBatch,
      capacity: options.capacity
    })

    /** Flushes the writer, then runs the query: reads see every write made before them. */
    const read = <A, B, E>(
      operation: string,
      query: Effect.Effect<A, SqlError>,
      then: (rows: A) => Effect.Effect<B, E>
    ): Effect.Effect<B, E | BackendError> =>
      writer.flush.pipe(
        Effect.zipRight(Effect.mapError(query, backendError(operation))),
        Effect.flatMap(then)
      )

    const saveCheckpoint = (checkpoint: Checkpoint.Encoded): Effect.Effect<void, BackendError | CheckpointError> =>
      writer.flush.pipe(
        Effect.zipRight(
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
            )
          )
        ),
        Effect.asVoid
      )

    return {
      writeRun: (run) => writer.offer({ _tag: "RunWritten", run }),
      writeAgent: (agent) => writer.offer({ _tag: "AgentWritten", agent }),
      writeStep: (step) => writer.offer({ _tag: "StepWritten", step }),
      saveCheckpoint,
      flush: writer.flush,
      writerStats: writer.stats,
      getRun: (runId) =>
        read(
          "getRun",
          sql`SELECT record FROM multirun_runs WHERE project = ${project} AND id = ${runId}`.values,
          (rows) => Effect.map(parseRecords<Run.Encoded>("getRun", rows), (runs) => Option.fromNullable(runs[0]))
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
        return read(
          "listRuns",
          sql`SELECT record FROM multirun_runs WHERE ${sql.and(where)}
            ORDER BY started_at DESC, id DESC LIMIT ${filter.limit ?? 100}`.values,
          (rows) => parseRecords<Run.Encoded>("listRuns", rows)
        )
      },
      listAgents: (runId) =>
        read(
          "listAgents",
          sql`SELECT record FROM multirun_agents WHERE project = ${project} AND run_id = ${runId}
            ORDER BY started_at, id`.values,
          (rows) => parseRecords<Agent.Encoded>("listAgents", rows)
        ),
      listSteps: (runId) =>
        read(
          "listSteps",
          sql`SELECT record FROM multirun_steps WHERE project = ${project} AND run_id = ${runId}
            ORDER BY seq`.values,
          (rows) => parseRecords<Step.Encoded>("listSteps", rows)
        ),
      getCheckpoint: (checkpointId) =>
        read(
          "getCheckpoint",
          sql<CheckpointRow>`SELECT id, run_id, payload FROM multirun_checkpoints
            WHERE project = ${project} AND id = ${checkpointId}`,
          (rows) => rows.length === 0 ? Effect.succeedNone : Effect.asSome(parseCheckpoint(rows[0]!))
        ),
      listCheckpoints: (runId) =>
        read(
          "listCheckpoints",
          sql<CheckpointRow>`SELECT id, run_id, payload FROM multirun_checkpoints
            WHERE project = ${project} AND run_id = ${runId} ORDER BY version`,
          (rows) => Effect.forEach(rows, parseCheckpoint)
        )
    } satisfies SqlStore
  })

/**
 * The store and core's checkpoint service over the `SqlClient` in context. The writer is
 * flushed when the layer's scope closes.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints, never, SqlClient.SqlClient> =>
  Checkpoints.withClient(Layer.scoped(MultiRunClient.MultiRunClient, make(options)))

/**
 * What an ingested batch did: how many events it stored, or that its id was seen before.
 *
 * @since 0.1.0
 */
export interface IngestResult {
  readonly stored: number
  readonly duplicate: boolean
}

/**
 * Writes a whole batch of write events into a project in one transaction, recording the batch
 * id in the same transaction: a batch whose id is already recorded is not written again
 * (`duplicate: true`), so a client may retry a batch safely. For the server's ingest endpoint.
 *
 * @since 0.1.0
 */
export const ingest = (
  project: string,
  batch: Event.Batch
): Effect.Effect<IngestResult, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const write = Effect.gen(function*() {
      const fresh = yield* sql`INSERT INTO multirun_ingest_batches ${sql.insert({ project, batch_id: batch.batchId })}
        ON CONFLICT (project, batch_id) DO NOTHING RETURNING batch_id`
      if (fresh.length === 0) return { stored: 0, duplicate: true }
      yield* writeRecords(sql, project, coalesce(batch.events))
      return { stored: batch.events.length, duplicate: false }
    })
    return yield* Effect.mapError(sql.withTransaction(write), backendError("ingest"))
  })
