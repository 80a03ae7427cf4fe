/**
 * The multirun backend over `@effect/sql`: one project's runs, agents, steps and checkpoints in
 * SQLite or PostgreSQL, written in batches through core's `BatchWriter`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as BatchWriter from "@multirun/core/BatchWriter"
import * as Checkpoints from "@multirun/core/Checkpoints"
import * as Event from "@multirun/core/Event"
import * as Lease from "@multirun/core/Lease"
import * as MultiRunClient from "@multirun/core/MultiRunClient"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Queries from "./internal/queries.js"
import { fence } from "./internal/leases.js"
import { coalesce, writeRecords } from "./internal/records.js"
import * as Retention from "./Retention.js"
import { backendError } from "./StoreError.js"

/**
 * How a store is scoped and buffered.
 *
 * - `project`: the project whose data the store reads and writes (default `"default"`).
 * - `maxBatch`: records per write transaction (default 1,000).
 * - `capacity`: records buffered before writers wait for the database (default 20,000).
 * - `keepLast`: checkpoints kept per run (at least 1). Saving a checkpoint removes, in the same
 *   transaction, the run's older ones beyond the newest `keepLast`, except one another run was
 *   forked from; steps stay. Default: every checkpoint is kept.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly project?: string | undefined
  readonly maxBatch?: number | undefined
  readonly capacity?: number | undefined
  readonly keepLast?: number | undefined
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

/**
 * Writes write events (or bare `Event.Write`s) into a project with multi-row upserts (the last
 * event of an id wins), except the events whose writer's lease `epoch` is older than their run's current one: those
 * are fenced out, not written, and returned. Run it inside a transaction of your own; for code
 * that receives events already batched (the server's ingest endpoint). The tables must exist
 * (see `Migrations.run`).
 *
 * @since 0.2.0
 */
export const writeEvents = <W extends Event.Write>(
  project: string,
  events: ReadonlyArray<W>
): Effect.Effect<ReadonlyArray<W>, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.flatMap(fence(sql, project, events), ({ fenced, kept }) => {
      const records = coalesce(kept)
      // emptied like the records once written (see `writeRecords`), here as soon as coalesced
      kept.length = 0
      return Effect.as(writeRecords(sql, project, records), fenced)
    }))

/**
 * Makes a store over the `SqlClient` in context, scoped to one project: every read is filtered
 * by it and every write tagged with it. Writes are buffered and written by one ordered writer,
 * each batch in one transaction with multi-row upserts (the last record of an id wins). Every
 * read and `saveCheckpoint` first flushes the writer, so they see every earlier write. The
 * tables must exist: `Sqlite.layer` and `Pg.layer` run `Migrations.run` first. `location` (the
 * file or host) names the database in the errors of its writes.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {},
  location?: string
): Effect.Effect<SqlStore, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const project = options.project ?? defaultProject
    /** Writes refused because their writer no longer owns the run; the next flush reports them once. */
    let fenced: Array<Event.Write> = []
    // the buffer holds bare writes, not `Event`s: an event's class and id cost more than the row
    const writer = yield* BatchWriter.make<Event.Write>({
      // a failed COMMIT or ROLLBACK is a defect in @effect/sql: it is classified like a failure
      write: (batch) =>
        sql.withTransaction(writeEvents(project, batch)).pipe(
          Effect.map((refused) => {
            if (refused.length > 0) fenced.push(...refused)
          }),
          Effect.mapError(backendError("write", location)),
          Effect.catchAllDefect((defect) => Effect.fail(backendError("write", location)(defect))),
          Effect.provideService(SqlClient.SqlClient, sql)
        ),
      maxBatch: options.maxBatch,
      capacity: options.capacity
    })
    const flush = Effect.zipRight(
      writer.flush,
      Effect.suspend(() => {
        if (fenced.length === 0) return Effect.void
        const refused = fenced
        fenced = []
        return Effect.fail(Lease.fencedWrites(
          "write",
          refused.map((event) => ({ runId: Event.runIdOf(event), epoch: event.epoch })),
          location
        ))
      })
    )
    const queries = Queries.make(sql, project, location)
    /** Reads and checkpoints first flush the writer, so they see every write made before them. */
    const flushed = <A extends ReadonlyArray<any>, B, E>(f: (...args: A) => Effect.Effect<B, E>) => (...args: A) =>
      Effect.zipRight(flush, f(...args))
    const keepLast = options.keepLast
    const saveCheckpoint: SqlStore["saveCheckpoint"] = keepLast === undefined
      ? queries.saveCheckpoint
      : (checkpoint, epoch) =>
        sql.withTransaction(Effect.zipRight(
          queries.saveCheckpoint(checkpoint, epoch),
          Retention.pruneCheckpoints({ project, keepLast, runId: checkpoint.runId }).pipe(
            Effect.provideService(SqlClient.SqlClient, sql),
            Effect.mapError(backendError("saveCheckpoint", location))
          )
        )).pipe(
          Effect.catchTag("SqlError", (error) => Effect.fail(backendError("saveCheckpoint", location)(error))),
          Effect.catchAllDefect((defect) => Effect.fail(backendError("saveCheckpoint", location)(defect)))
        )
    return {
      ...queries,
      writeRun: (run, epoch) => writer.offer({ _tag: "RunWritten", run, epoch }),
      writeAgent: (agent, epoch) => writer.offer({ _tag: "AgentWritten", agent, epoch }),
      writeStep: (step, epoch) => writer.offer({ _tag: "StepWritten", step, epoch }),
      saveCheckpoint: flushed(saveCheckpoint),
      flush,
      writerStats: writer.stats,
      getRun: flushed(queries.getRun),
      listRuns: flushed(queries.listRuns),
      listAgents: flushed(queries.listAgents),
      listSteps: flushed(queries.listSteps),
      getCheckpoint: flushed(queries.getCheckpoint),
      listCheckpoints: flushed(queries.listCheckpoints)
    } satisfies SqlStore
  })

/**
 * The store and core's checkpoint service over the `SqlClient` in context. The writer is
 * flushed when the layer's scope closes.
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options,
  location?: string
): Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints, never, SqlClient.SqlClient> =>
  Checkpoints.withClient(Layer.scoped(MultiRunClient.MultiRunClient, make(options, location)))
