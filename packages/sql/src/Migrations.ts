/**
 * The versioned schema of the store, portable across SQLite and PostgreSQL, applied with
 * `@effect/sql`'s `Migrator` when a layer starts.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { exclusively } from "./internal/migrationLock.js"
import { initial } from "./internal/migrations/m1_initial.js"
import { stepValues } from "./internal/migrations/m2_step_values.js"
import { leases } from "./internal/migrations/m3_leases.js"
import { compactSteps } from "./internal/migrations/m4_compact_steps.js"
import { stepParentAndDrift } from "./internal/migrations/m5_step_parent_and_drift.js"
import { stepOccurrence } from "./internal/migrations/m6_step_occurrence.js"
import { unpricedAndInherited } from "./internal/migrations/m7_unpriced_and_inherited.js"
import { describeCause, isReadOnly, readOnlyDetail, reasonOf } from "./internal/sql.js"
import { StoreError } from "./StoreError.js"

/**
 * The schema version this code writes and understands. A database whose `multirun_meta`
 * records a higher version was created by a newer multirun and is refused.
 *
 * - 1 (0.1): runs, agents, steps, checkpoints (and the server's API keys and ingest batches,
 *   which `@multirun/server` now creates and owns; a 0.1 database keeps them).
 * - 2: a step's `input` and `output` are columns of their own, stored once.
 * - 3: run leases (`multirun_leases`): one owner per run, and the epoch that fences writes.
 * - 4: compact steps: a column per field (no JSON record), ids and the input hash as bytes, kind
 *   and status as small integers, and in SQLite a table without rowid.
 * - 5: a step's parent step (`parent_id`) and drift mark (`drift`).
 * - 6: a step's occurrence among the calls of its key (`occurrence`) and the records replayed
 *   inside it (`replayed_inside`): replayed calls no longer write rows of their own.
 * - 7: run and agent records count their steps of unknown cost (`unpricedSteps`, and a `null`
 *   cost when no step's cost is known); a fork's record holds what it `inherited`.
 *
 * @since 0.1.0
 */
export const schemaVersion = 7

/**
 * Where `Migrator` records the migrations it applied.
 *
 * @since 0.1.0
 */
export const migrationsTable = "multirun_migrations"

/**
 * The migrations, keyed `<id>_<name>` as `Migrator.fromRecord` expects. No foreign keys: the
 * records of one run may arrive in any order.
 *
 * @since 0.1.0
 */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_initial": initial,
  "2_step_values": stepValues,
  "3_leases": leases,
  "4_compact_steps": compactSteps,
  "5_step_parent_and_drift": stepParentAndDrift,
  "6_step_occurrence": stepOccurrence,
  "7_unpriced_and_inherited": unpricedAndInherited
}

/**
 * The schema version recorded in the database, 0 when it has none yet.
 *
 * @since 0.1.0
 */
export const storedVersion = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [present] = yield* sql.onDialectOrElse({
    pg: () => sql<{ present: unknown }>`SELECT to_regclass('multirun_meta') IS NOT NULL AS present`,
    orElse: () =>
      sql<{ present: unknown }>`SELECT count(*) AS present FROM sqlite_master
        WHERE type = 'table' AND name = 'multirun_meta'`
  })
  if (!present?.present || present.present === "0") return 0
  const [row] = yield* sql<{ value: string }>`SELECT value FROM multirun_meta WHERE key = 'schema_version'`
  return row === undefined ? 0 : Number(row.value)
})

const migrationFailed = (location: string, cause: unknown) =>
  new StoreError({
    reason: "MigrationFailed",
    location,
    detail: `creating or upgrading the multirun tables failed: ${describeCause(cause)}`
  })

/**
 * Why a migration failed: a read-only file or directory (`ReadOnly`), a connection lost on the way
 * (`Unavailable`: nothing is wrong with the tables, open the database again), else `MigrationFailed`.
 */
const migrationError = (location: string, cause: unknown): StoreError => {
  if (isReadOnly(cause)) return new StoreError({ reason: "ReadOnly", location, detail: readOnlyDetail })
  if (reasonOf(cause) === "ConnectionLost") {
    return new StoreError({
      reason: "Unavailable",
      location,
      detail: `the connection to the database was lost while checking its tables: ${describeCause(cause)}; ` +
        "open it again once the database is reachable"
    })
  }
  return migrationFailed(location, cause)
}

/** Any failure or defect of a migration becomes a `StoreError` naming the database. */
const failuresAsStoreError = (location: string) =>
<A, R>(self: Effect.Effect<A, StoreError | SqlError | MigrationError, R>): Effect.Effect<A, StoreError, R> =>
  self.pipe(
    Effect.catchTags({
      SqlError: (error) => Effect.fail(migrationError(location, error)),
      MigrationError: (error) => Effect.fail(migrationError(location, error))
    }),
    Effect.catchAllDefect((defect) => Effect.fail(migrationError(location, defect)))
  )

interface MigrationSet {
  readonly migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>
  readonly table: string
}

const migrate = (location: string, options: MigrationSet): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Migrator.make({})({ loader: Migrator.fromRecord(options.migrations), table: options.table }).pipe(
    Effect.asVoid,
    failuresAsStoreError(location)
  )

/**
 * Applies the migrations of `options.migrations` (keyed `<id>_<name>`) not yet recorded in
 * `options.table`, each once, in id order. For packages that keep tables of their own next to
 * the store's (the server's API keys and ingest batches). On PostgreSQL, processes migrating one
 * schema at the same moment take turns. A failure is `StoreError("MigrationFailed")` naming
 * `location`.
 *
 * @since 0.2.0
 */
export const apply = (location: string, options: MigrationSet): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  migrate(location, options).pipe(exclusively(undefined), failuresAsStoreError(location))

/**
 * Brings the database at `location` (named in errors) to {@link schemaVersion}: refuses a
 * newer schema, applies the missing migrations, records the version in `multirun_meta`. On
 * PostgreSQL, processes migrating one schema at the same moment take turns. A database already
 * at this version is only read.
 *
 * @since 0.1.0
 */
export const run = (location: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  // a database already at this version (every open but the first) is read, not written
  Effect.flatMap(storedVersion.pipe(failuresAsStoreError(location)), (version) =>
    version === schemaVersion ? Effect.void : upgrade(location))

const upgrade = (location: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const version = yield* storedVersion
    if (version > schemaVersion) {
      return yield* new StoreError({
        reason: "NewerSchema",
        location,
        detail: `the database has multirun schema version ${version}, but this multirun knows versions up to ` +
          `${schemaVersion}: it was created by a newer multirun; upgrade @multirun/sql to open it`
      })
    }
    yield* migrate(location, { migrations, table: migrationsTable })
    yield* sql`INSERT INTO multirun_meta (key, value) VALUES ('schema_version', ${String(schemaVersion)})
      ON CONFLICT (key) DO UPDATE SET value = excluded.value`
  }).pipe(exclusively(undefined), failuresAsStoreError(location))
