/**
 * Which database the server keeps its data in: a SQLite file (the default) or PostgreSQL.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import { PgClientLayer, type PgClientLayerOptions, SqliteClientLayer, type SqliteClientLayerOptions } from "@multirun/sql"
import { locationOf, type StoreError } from "@multirun/sql/StoreError"
import { Layer } from "effect"
import * as Migrations from "./Migrations.js"

/**
 * A SQLite file, or a PostgreSQL URL with an optional schema (default `public`).
 *
 * @since 0.1.0
 */
export type Options = SqliteClientLayerOptions | PgClientLayerOptions

/**
 * The SQLite file used when neither `--db` nor `--database-url` is given.
 *
 * @since 0.1.0
 */
export const defaultFilename = ".multirun/server.db"

/**
 * The `SqlClient` of the database with the store's tables and the server's (API keys, ingest
 * batches) migrated. No store and no writer: the server reads through `ProjectView`s and writes
 * through `Ingest`.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<SqlClient, StoreError> =>
  Layer.effectDiscard(Migrations.run(locationOf(options))).pipe(
    Layer.provideMerge("filename" in options ? SqliteClientLayer(options) : PgClientLayer(options))
  )
