/**
 * The sql package's test databases, as scoped resources built on `@multirun/core/test-utils`:
 * a SQLite file in a scoped temporary directory, or a PostgreSQL schema dropped with its scope.
 */
import { pgSchema, pgUrl, tempFile } from "@multirun/core/test-utils"
import { SqlClient } from "@effect/sql/SqlClient"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import { PgLayer, type PgLayerOptions, SqliteLayer } from "../src/index.js"
import type * as SqlStore from "../src/SqlStore.js"

/** The layers of one database: each `open()` is a new layer instance over the same database. */
export interface Database {
  readonly open: (options?: SqlStore.Options) => ReturnType<typeof SqliteLayer>
  /** Environment variables that point a fixture child process to the same database. */
  readonly env: Record<string, string>
}

/** A new SQLite database in a temporary file, removed when the scope closes. */
export const sqliteDatabase: Effect.Effect<Database, never, Scope.Scope> = Effect.map(tempFile(), (filename) => ({
  open: (options) => SqliteLayer({ ...options, filename }),
  env: { MR_BACKEND: "sqlite", MR_FILE: filename }
}))

/** A new PostgreSQL database: a fresh schema of the test database, dropped when the scope closes. */
export const pgDatabase = (extra?: Partial<PgLayerOptions>): Effect.Effect<Database, never, Scope.Scope> =>
  Effect.map(pgSchema, (schema) => ({
    open: (options) => PgLayer({ ...extra, ...options, url: pgUrl, schema }),
    env: { MR_BACKEND: "pg", MR_PG_URL: pgUrl, MR_PG_SCHEMA: schema }
  }))

/** The layer of a new database, which goes away with the layer. */
export const freshLayer = (database: Effect.Effect<Database, never, Scope.Scope>) =>
  Layer.unwrapScoped(Effect.map(database, (db) => db.open()))

/**
 * Makes a run's lease as old as if it had been taken `millis` earlier on the database's clock
 * (leases take no time from a request): its acquisition and expiry move back by `millis`.
 */
export const ageLease = (runId: string, millis: number) =>
  Effect.flatMap(SqlClient, (sql) =>
    sql`UPDATE multirun_leases SET acquired_at = acquired_at - ${millis}, expires_at = expires_at - ${millis}
      WHERE run_id = ${runId}`)
