/**
 * A read-only view of one project in the store: for the server, which receives writes only
 * through ingest, and for tools that only read (the command line).
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Checkpoints from "@multirun/core/Checkpoints"
import { BackendError } from "@multirun/core/Errors"
import * as MultiRunClient from "@multirun/core/MultiRunClient"
import { Effect, Layer } from "effect"
import * as Queries from "./internal/queries.js"
import { defaultProject } from "./SqlStore.js"

const readOnly = (operation: string) =>
  Effect.fail(
    new BackendError({
      operation,
      detail: "a ProjectView is read-only: write runs, agents and steps with Sqlite.layer or Pg.layer, " +
        "or send them to the server's ingest endpoint"
    })
  )

/**
 * A project's backend without a writer, over the `SqlClient` in context: every read is filtered
 * by the project and goes straight to the database, `saveCheckpoint` inserts at once, `flush`
 * has nothing to do, and `writeRun`, `writeAgent` and `writeStep` fail with a `BackendError`
 * that says so. It holds no state (no fiber, no buffer): make one per request. The tables must
 * exist (`SqliteClientLayer` and `PgClientLayer` migrate them).
 *
 * @since 0.2.0
 */
export const make = (
  project: string = defaultProject
): Effect.Effect<MultiRunClient.MultiRunClientService, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) =>
    MultiRunClient.MultiRunClient.of({
      ...Queries.make(sql, project),
      writeRun: () => readOnly("writeRun"),
      writeAgent: () => readOnly("writeAgent"),
      writeStep: () => readOnly("writeStep"),
      flush: Effect.void
    }))

/**
 * The view of a project and core's checkpoint service over it (get, list, latest, diff), for
 * tools that only read: `ProjectView.layer("default").pipe(Layer.provide(SqliteClientLayer({ filename })))`.
 *
 * @since 0.2.0
 */
export const layer = (
  project?: string
): Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints, never, SqlClient.SqlClient> =>
  Checkpoints.withClient(Layer.effect(MultiRunClient.MultiRunClient, make(project)))
