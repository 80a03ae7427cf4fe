/**
 * Where the commands of `multirun` read runs from (`runs`, `checkpoints`, `ui`, `export`,
 * `push`) and write them to (`import`, `push`): a local SQLite file, a PostgreSQL database, or
 * a server over HTTP.
 *
 * @since 0.2.0
 */
import { FetchHttpClient } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { BackendError } from "@multirun/core/Errors"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import * as Outbox from "@multirun/core/Outbox"
import * as Remote from "@multirun/core/Remote"
import { Pg, PgClientLayer, ProjectView, Sqlite, SqliteClientLayer } from "@multirun/sql"
import type { StoreError } from "@multirun/sql/StoreError"
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
 * - `{ filename }`: a SQLite file written by `Sqlite.layer`, opened read-only.
 * - `{ url: "postgres://…", schema? }`: a PostgreSQL database of `Pg.layer` or the server.
 * - `{ server, apiKey }`: a `multirun serve` over HTTP, read through core's `Remote.layer`.
 *
 * `project` (default `"default"`, where `Sqlite.layer` and `Pg.layer` write) applies to databases.
 *
 * @since 0.2.0
 */
export type Source =
  | { readonly _tag: "Sqlite"; readonly filename: string; readonly project?: string | undefined }
  | { readonly _tag: "Postgres"; readonly url: string; readonly schema?: string | undefined; readonly project?: string | undefined }
  | { readonly _tag: "Server"; readonly url: string; readonly apiKey: string }

/**
 * A source could not be opened; the message says what to do. `missingFile` names a SQLite file
 * that does not exist (a command line adds the options that choose another source).
 *
 * @since 0.2.0
 */
export class SourceError extends Data.TaggedError("SourceError")<{
  readonly message: string
  readonly missingFile?: string | undefined
}> {}

const storeFailure = (error: StoreError) => new SourceError({ message: `cannot open ${error.location}: ${error.detail}` })

/** The one line a failure to open a SQLite file reads as. */
const sqliteFailure = (filename: string) => (error: StoreError): SourceError => {
  switch (error.reason) {
    case "Unavailable":
      // sync on purpose: these layers are public and need nothing in context (`Local.serve` and
      // programs use them outside the command line); this only names why an open failed
      return fs.existsSync(filename)
        ? new SourceError({ message: `cannot open ${filename}: ${error.detail}` })
        : new SourceError({ message: `no database at ${filename}`, missingFile: filename })
    case "NotADatabase":
      return new SourceError({ message: `${filename} is not a SQLite database` })
    case "NotMultirunDatabase":
      return new SourceError({ message: `${filename} holds no multirun runs (not a multirun database)` })
    default:
      return storeFailure(error)
  }
}

/**
 * A multirun SQLite file opened read-only (`SqliteClientLayer` with `readOnly`: no WAL switch,
 * no write): fails with a one-line {@link SourceError} when the file is missing, is not a
 * multirun database, or was written by a newer multirun. A file of an older schema (written by
 * an older multirun) is first upgraded in place, as `SqliteClientLayer` (and any program on
 * `Sqlite.layer`) would do, then opened read-only.
 *
 * @since 0.2.0
 */
export const sqliteReadOnly = (filename: string): Layer.Layer<SqlClient.SqlClient, SourceError> => {
  const readOnly = SqliteClientLayer({ filename, readOnly: true })
  return readOnly.pipe(
    Layer.catchAll((error) =>
      error.reason === "OlderSchema"
        ? Layer.unwrapEffect(Effect.as(Effect.scoped(Layer.build(SqliteClientLayer({ filename }))), readOnly))
        : Layer.fail(error)
    ),
    Layer.mapError(sqliteFailure(filename))
  )
}

/**
 * The backend and checkpoint service of a source, read-only (a `ProjectView` over a database).
 * A server's key and URL are checked at start (`BackendError` `Unreachable` or `Unauthorized`).
 *
 * @since 0.2.0
 */
export const layer = (source: Source): Layer.Layer<MultiRunClient | Checkpoints, SourceError | BackendError> => {
  switch (source._tag) {
    case "Sqlite":
      return ProjectView.layer(source.project).pipe(Layer.provide(sqliteReadOnly(source.filename)))
    case "Postgres":
      return ProjectView.layer(source.project).pipe(
        Layer.provide(PgClientLayer({ url: source.url, schema: source.schema }).pipe(Layer.mapError(storeFailure)))
      )
    case "Server":
      // it only reads: nothing to keep in an outbox
      return Remote.layer({ url: source.url.replace(/\/+$/, ""), apiKey: source.apiKey, readRetries: 1, retryMax: "200 millis" })
        .pipe(Layer.provide([Outbox.layerMemory, FetchHttpClient.layer]))
  }
}

/**
 * The backend of a source for writing (`multirun import`, the target of `multirun push`):
 * `Sqlite.layer` (the file and its directory are created when missing), `Pg.layer` (in
 * `project`), or `Remote.layer` (writes through the server's ingest; a write the server does not
 * take within 60 s fails instead of waiting for ever).
 *
 * @since 0.2.0
 */
export const layerWritable = (source: Source): Layer.Layer<MultiRunClient | Checkpoints, SourceError | BackendError> => {
  switch (source._tag) {
    case "Sqlite":
      return Sqlite.layer({ filename: source.filename, project: source.project }).pipe(
        Layer.mapError(sqliteFailure(source.filename))
      )
    case "Postgres":
      return Pg.layer({ url: source.url, schema: source.schema, project: source.project }).pipe(Layer.mapError(storeFailure))
    case "Server":
      // what is written here is read from a file or a store that keeps it: a memory outbox suffices
      return Remote.layer({ url: source.url.replace(/\/+$/, ""), apiKey: source.apiKey, readRetries: 1, writeDeadline: "60 seconds" })
        .pipe(Layer.provide([Outbox.layerMemory, FetchHttpClient.layer]))
  }
}
