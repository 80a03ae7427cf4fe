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
import type * as Step from "@multirun/core/Step"
import { dialectOf } from "./internal/queries.js"
import { stepTable, upserts } from "./internal/records.js"
import { stepTableDefinition } from "./internal/stepRows.js"
import { exclusively } from "./internal/migrationLock.js"
import { unpricedAndInherited } from "./internal/totalsMigration.js"
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

const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Records are kept as JSON text in `record`; the other columns exist to filter and sort.
  yield* sql`CREATE TABLE multirun_runs (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_run_id TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    tags TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_runs_started ON multirun_runs (project, started_at)`
  yield* sql`CREATE INDEX multirun_runs_status ON multirun_runs (project, status, started_at)`
  yield* sql`CREATE INDEX multirun_runs_name ON multirun_runs (project, name, started_at)`
  yield* sql`CREATE INDEX multirun_runs_parent ON multirun_runs (project, parent_run_id)`
  yield* sql`CREATE TABLE multirun_agents (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_agents_run ON multirun_agents (project, run_id, started_at)`
  yield* sql`CREATE TABLE multirun_steps (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_steps_run ON multirun_steps (project, run_id, seq)`
  yield* sql`CREATE TABLE multirun_checkpoints (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (project, id),
    UNIQUE (project, run_id, version)
  )`
  yield* sql`CREATE TABLE multirun_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  )`
})

/**
 * A step's canonical input and output text move out of its JSON record into columns of their
 * own, and the record loses the fields its columns hold (`id`, `runId`, `seq`): nothing is
 * stored twice, and the texts are no longer escaped inside the record. Existing rows are
 * rewritten in place.
 */
const stepValues = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE multirun_steps ADD COLUMN input TEXT`
  yield* sql`ALTER TABLE multirun_steps ADD COLUMN output TEXT`
  yield* sql.onDialectOrElse({
    pg: () =>
      sql`UPDATE multirun_steps SET input = record::json ->> 'input', output = record::json ->> 'output',
        record = (record::jsonb - 'id' - 'runId' - 'seq' - 'input' - 'output')::text`,
    orElse: () =>
      sql`UPDATE multirun_steps SET input = json_extract(record, '$.input'), output = json_extract(record, '$.output'),
        record = json_remove(record, '$.id', '$.runId', '$.seq', '$.input', '$.output')`
  })
})

/** One lease per run: its owner, fencing epoch and expiry (see core's `Lease`). */
const leases = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE multirun_leases (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ttl_ms BIGINT NOT NULL,
    PRIMARY KEY (project, run_id)
  )`
})

/** Rows of the old step table read per statement while it is copied into the compact one. */
const copyChunk = 1_000

/**
 * Steps move to the compact layout of `stepRows.ts`: a new table is filled from the old one (each
 * row decoded as version 3 wrote it and encoded as the writer does, so both agree by
 * construction), then takes its name. A record that is not JSON keeps its key and reads back as
 * corrupt, as it did.
 */
const compactSteps = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE TABLE multirun_steps_v4 ${stepTableDefinition(dialectOf(sql))}`)
  const table = stepTable("multirun_steps_v4")
  let after: ReadonlyArray<unknown> | undefined
  while (true) {
    const rows = yield* sql`SELECT project, id, run_id, seq, input, output, record FROM multirun_steps
      ${after === undefined ? sql`` : sql`WHERE (project, id) > (${after[0]}, ${after[1]})`}
      ORDER BY project, id LIMIT ${copyChunk}`.values
    if (rows.length === 0) break
    after = rows[rows.length - 1]!
    const byProject = new Map<string, Array<Step.Encoded>>()
    for (const [project, id, runId, seq, input, output, record] of rows) {
      let fields: object = {}
      try {
        fields = JSON.parse(record as string)
      } catch {
        // kept as a corrupt row: its key only
      }
      const step = { ...fields, id, runId, seq: Number(seq), input, output } as Step.Encoded
      const steps = byProject.get(project as string) ?? []
      byProject.set(project as string, steps)
      steps.push(step)
    }
    const statements: Array<Effect.Effect<unknown, SqlError>> = []
    for (const [project, steps] of byProject) upserts(sql, table, project, steps, statements)
    yield* Effect.all(statements, { discard: true })
  }
  yield* sql`DROP TABLE multirun_steps`
  yield* sql`ALTER TABLE multirun_steps_v4 RENAME TO multirun_steps`
})

/** The names of the step table's columns. */
const stepTableColumns = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const existing = yield* sql.onDialectOrElse({
    pg: () =>
      sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns
        WHERE table_name = 'multirun_steps' AND table_schema = current_schema()`,
    orElse: () => sql<{ name: string }>`SELECT name FROM pragma_table_info('multirun_steps')`
  })
  return new Set(existing.map((column) => column.name))
})

/**
 * Steps know the step they ran inside and whether replay found them drifted: two nullable columns
 * (NULL for every step written before). Migration 4 creates the table as the code writes it, so
 * a database made from scratch has them already.
 */
const stepParentAndDrift = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const has = yield* stepTableColumns
  const bytes = dialectOf(sql) === "pg" ? "BYTEA" : "BLOB"
  if (!has.has("parent_id")) yield* sql.unsafe(`ALTER TABLE multirun_steps ADD COLUMN parent_id ${bytes}`)
  if (!has.has("drift")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN drift TEXT`
})

/**
 * Replay without a row per replayed call: a step records its place among the calls of its key
 * and the records replayed inside its body. Two nullable columns, NULL for every step written
 * before (read as "count the attempt's rows", which those attempts wrote for every call).
 */
const stepOccurrence = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const has = yield* stepTableColumns
  if (!has.has("occurrence")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN occurrence INTEGER`
  if (!has.has("replayed_inside")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN replayed_inside TEXT`
})

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
