/**
 * The embedded, durable backend: a SQLite file in WAL mode.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { enableIncrementalVacuum } from "./internal/retentionSql.js"
import { describeCause, isReadOnly, readOnlyDetail } from "./internal/sql.js"
import * as Migrations from "./Migrations.js"
import * as SqlStore from "./SqlStore.js"
import { locationOf, StoreError } from "./StoreError.js"

/**
 * Options of {@link SqliteClientLayer}: the file, and how long a statement waits for another
 * process's lock (`busyTimeoutMs`, default 5,000).
 *
 * @since 0.2.0
 */
export interface SqliteClientLayerOptions {
  readonly filename: string
  readonly busyTimeoutMs?: number | undefined
  /**
   * Open the file for reading only: nothing is created, migrated or written, so a read-only file,
   * directory or disk can be read. The file must hold multirun's current schema
   * (`StoreError("OlderSchema")` otherwise: open it once without the flag to upgrade it).
   */
  readonly readOnly?: boolean | undefined
}

/**
 * Options of {@link SqliteLayer}: those of {@link SqliteClientLayer}, the project and the
 * writer's buffer.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Sqlite.Options`.
 * @since 0.1.0
 */
export interface SqliteLayerOptions extends SqlStore.Options, SqliteClientLayerOptions {}

/** Whether the file (or, when it does not exist yet, its directory) can be written. */
const writable = (filename: string): boolean => {
  try {
    fs.accessSync(fs.existsSync(filename) ? filename : path.dirname(filename), fs.constants.W_OK)
    return true
  } catch {
    return !fs.existsSync(path.dirname(filename))
  }
}

const unavailable = (filename: string) => (cause: unknown) =>
  isReadOnly(cause) || !writable(filename)
    ? new StoreError({ reason: "ReadOnly", location: filename, detail: readOnlyDetail })
    : new StoreError({
      reason: "Unavailable",
      location: filename,
      detail: `the SQLite file could not be opened: ${describeCause(cause)}`
    })

/**
 * Checks, before multirun writes anything to it, that the file is a SQLite database that is
 * new, empty or already multirun's. Creates missing parent directories.
 */
const inspect = (filename: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function*() {
    yield* Effect.try({
      try: () => fs.mkdirSync(path.dirname(filename), { recursive: true }),
      catch: unavailable(filename)
    })
    const tables = yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
    }).pipe(
      Effect.mapError((error) =>
        (error.cause as { readonly code?: unknown } | undefined)?.code === "SQLITE_NOTADB"
          ? new StoreError({
            reason: "NotADatabase",
            location: filename,
            detail: "the file is not a SQLite database; expected a multirun SQLite file, " +
              "or a path where a new one can be created"
          })
          : unavailable(filename)(error)
      ),
      Effect.provide(SqliteClient.layer({ filename, disableWAL: true }).pipe(Layer.mapError(unavailable(filename)))),
      Effect.catchAllDefect((defect) => Effect.fail(unavailable(filename)(defect)))
    )
    const names = tables.map((table) => table.name).filter((name) => !name.startsWith("sqlite_"))
    if (names.length > 0 && !names.some((name) => name.startsWith("multirun_"))) {
      return yield* new StoreError({
        reason: "NotMultirunDatabase",
        location: filename,
        detail: `the SQLite database holds other tables (${names.slice(0, 5).join(", ")}${
          names.length > 5 ? ", ..." : ""
        }) and no multirun tables; multirun will not add its tables to another application's ` +
          `database: give it a new file or an existing multirun file`
      })
    }
  })

/**
 * The `SqlClient` of a SQLite file with multirun's tables migrated, and no store: no writer, no
 * default project. For tools that only read (`ProjectView.layer(project)` over it) and for the
 * server, which adds its own tables. At start it checks the file (`StoreError` naming it when it
 * is not a SQLite database, another application's database, or a multirun database of a newer
 * schema), turns on WAL with `synchronous = NORMAL` (a committed transaction survives `kill -9`),
 * puts the file in incremental auto-vacuum mode (a file of an earlier multirun is rewritten once
 * by `VACUUM`; `Retention.reclaimSpace` then shrinks it after removals) and runs the migrations.
 *
 * @since 0.2.0
 */
export const SqliteClientLayer = (options: SqliteClientLayerOptions): Layer.Layer<SqlClient.SqlClient, StoreError> => {
  const filename = locationOf(options)
  if (options.readOnly === true) return readOnlyClient(filename)
  const client = SqliteClient.layer({ filename }).pipe(Layer.mapError(unavailable(filename)))
  const setup = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`)
    yield* sql`PRAGMA synchronous = NORMAL`
    yield* enableIncrementalVacuum(sql)
  }).pipe(
    Effect.mapError(unavailable(filename)),
    Effect.zipRight(Migrations.run(filename))
  ))
  return Layer.unwrapEffect(Effect.as(inspect(filename), Layer.provideMerge(setup, client)))
}

/** The schema version of a file opened read-only, which must be the current one. */
const checkVersion = (filename: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
    if (!tables.some((table) => table.name === "multirun_runs")) {
      return yield* new StoreError({
        reason: "NotMultirunDatabase",
        location: filename,
        detail: "the database holds no multirun tables"
      })
    }
    const version = yield* Migrations.storedVersion
    if (version === Migrations.schemaVersion) return
    return yield* new StoreError(
      version > Migrations.schemaVersion
        ? {
          reason: "NewerSchema",
          location: filename,
          detail: `the database has multirun schema version ${version}, newer than this multirun knows ` +
            `(${Migrations.schemaVersion}); upgrade @multirun/sql to read it`
        }
        : {
          reason: "OlderSchema",
          location: filename,
          detail: `the database has multirun schema version ${version} and needs an upgrade to ` +
            `${Migrations.schemaVersion}; open it once without \`readOnly\` (a program on SqliteLayer does)`
        }
    )
  }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(filename)(error))))

/** The file opened for reading only: no directory, WAL switch, migration or write. */
const readOnlyClient = (filename: string): Layer.Layer<SqlClient.SqlClient, StoreError> => {
  const client = Layer.unwrapEffect(Effect.suspend(() =>
    fs.existsSync(filename)
      ? Effect.succeed(SqliteClient.layer({ filename, readonly: true, disableWAL: true }))
      : Effect.fail(new StoreError({ reason: "Unavailable", location: filename, detail: "no such file" }))
  )).pipe(Layer.mapError((error) => error instanceof StoreError ? error : unavailable(filename)(error)))
  const check = Layer.effectDiscard(checkVersion(filename).pipe(
    Effect.catchAllDefect((defect) => Effect.fail(unavailable(filename)(defect))),
    Effect.mapError((error) =>
      error.reason === "Unavailable" && /SQLITE_NOTADB|not a database/i.test(error.detail)
        ? new StoreError({ reason: "NotADatabase", location: filename, detail: "the file is not a SQLite database" })
        : error
    )
  ))
  return Layer.provideMerge(check, client)
}

/**
 * The SQLite backend: the store of one project and core's checkpoint service over a file, plus
 * the `SqlClient` of {@link SqliteClientLayer} (same checks, WAL and migrations). Closing the
 * layer flushes the writer before the file is closed.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Sqlite.layer(options)` (`import { Sqlite } from "@multirun/sql"`),
 * or `Sqlite.layerConfig` to read the options through `Config`.
 * @since 0.1.0
 */
export const SqliteLayer = (
  options: SqliteLayerOptions
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError> =>
  SqlStore.layer(options, locationOf(options)).pipe(Layer.provideMerge(SqliteClientLayer(options)))
