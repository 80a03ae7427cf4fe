/**
 * Where the read commands (`multirun runs`, `multirun checkpoints`, `multirun ui`) read runs
 * from: a local SQLite file opened read-only, a PostgreSQL database, or a server over HTTP.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import { RemoteLayer } from "@multirun/core/RemoteLayer"
import { PgLayer, SqlStore } from "@multirun/sql"
import { Data, Effect, Layer } from "effect"
import * as fs from "node:fs"

/**
 * The local SQLite file read when no source is given.
 *
 * @since 0.2.0
 */
export const defaultFilename = ".multirun/runs.db"

/**
 * A source of runs.
 *
 * - `{ filename }`: a SQLite file written by `SqliteLayer`, opened read-only.
 * - `{ url: "postgres://…", schema? }`: a PostgreSQL database of `PgLayer` or the server.
 * - `{ server, apiKey }`: a `multirun serve` over HTTP, read through core's `RemoteLayer`.
 *
 * `project` (default `"default"`, where `SqliteLayer` and `PgLayer` write) applies to databases.
 *
 * @since 0.2.0
 */
export type Source =
  | { readonly _tag: "Sqlite"; readonly filename: string; readonly project?: string | undefined }
  | { readonly _tag: "Postgres"; readonly url: string; readonly schema?: string | undefined; readonly project?: string | undefined }
  | { readonly _tag: "Server"; readonly url: string; readonly apiKey: string }

/**
 * A source could not be opened; the message says what to do.
 *
 * @since 0.2.0
 */
export class SourceError extends Data.TaggedError("SourceError")<{ readonly message: string }> {}

/**
 * A multirun SQLite file opened read-only (no migration, no WAL switch, no write): fails with a
 * one-line {@link SourceError} when the file is missing or is not a multirun database.
 *
 * @since 0.2.0
 */
export const sqliteReadOnly = (filename: string): Layer.Layer<SqlClient.SqlClient, SourceError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (!fs.existsSync(filename)) {
      return yield* new SourceError({
        message: `no database at ${filename} (give --db FILE, --database-url URL or --url URL)`
      })
    }
    const client = SqliteClient.layer({ filename, readonly: true, disableWAL: true }).pipe(
      Layer.mapError((error) => new SourceError({ message: `cannot open ${filename}: ${error.message}` }))
    )
    const check = Layer.effectDiscard(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`).pipe(
        Effect.mapError(() => new SourceError({ message: `${filename} is not a SQLite database` })),
        Effect.flatMap((tables) =>
          tables.some((table) => table.name === "multirun_runs")
            ? Effect.void
            : Effect.fail(new SourceError({ message: `${filename} holds no multirun runs (not a multirun database)` }))
        )
      )
    )
    return Layer.provideMerge(check, client)
  }))

/**
 * The backend and checkpoint service of a source.
 *
 * @since 0.2.0
 */
export const layer = (source: Source): Layer.Layer<MultiRunClient | Checkpoints, SourceError> => {
  switch (source._tag) {
    case "Sqlite":
      return SqlStore.layer({ project: source.project }).pipe(Layer.provide(sqliteReadOnly(source.filename)))
    case "Postgres":
      return PgLayer({ url: source.url, schema: source.schema, project: source.project }).pipe(
        Layer.mapError((error) => new SourceError({ message: `cannot open ${error.location}: ${error.detail}` }))
      )
    case "Server":
      return RemoteLayer({ url: source.url.replace(/\/+$/, ""), apiKey: source.apiKey, readRetries: 1, retryMax: "200 millis" })
  }
}
