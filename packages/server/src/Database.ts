/**
 * Which database the server keeps its data in: a SQLite file (the default) or PostgreSQL.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import { PgLayer, SqliteLayer } from "@multirun/sql"
import type { StoreError } from "@multirun/sql/StoreError"
import { Layer } from "effect"

/**
 * A SQLite file, or a PostgreSQL URL with an optional schema (default `public`).
 *
 * @since 0.1.0
 */
export type Options =
  | { readonly filename: string }
  | { readonly url: string; readonly schema?: string | undefined }

/**
 * The SQLite file used when neither `--db` nor `--database-url` is given.
 *
 * @since 0.1.0
 */
export const defaultFilename = ".multirun/server.db"

/**
 * The `SqlClient` of the database, with multirun's tables migrated.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<SqlClient, StoreError> =>
  "filename" in options
    ? SqliteLayer({ filename: options.filename })
    : PgLayer(options.schema === undefined ? { url: options.url } : { url: options.url, schema: options.schema })
