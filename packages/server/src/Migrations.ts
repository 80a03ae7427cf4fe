/**
 * The server's own tables, next to the store's: API keys and the ids of ingested batches. They
 * are migrated when the server opens its database, after the store's tables.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as StoreMigrations from "@multirun/sql/Migrations"
import type { StoreError } from "@multirun/sql/StoreError"
import { Effect } from "effect"

/**
 * Where `Migrator` records the server's migrations (the store's are in `multirun_migrations`).
 *
 * @since 0.2.0
 */
export const migrationsTable = "multirun_server_migrations"

/**
 * The tables as multirun 0.1 made them (its store created them then), so a 0.1 database keeps
 * its keys and batch ids: `IF NOT EXISTS` leaves existing tables and rows as they are.
 */
const keysAndBatches = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS multirun_api_keys (
    key_hash TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS multirun_ingest_batches (
    project TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    PRIMARY KEY (project, batch_id)
  )`
})

/**
 * Keys get a public id (the first 16 hex digits of their hash, for `keys list|revoke|rotate`),
 * an optional expiry, a last-used time and a revocation time.
 */
const keyLifecycle = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE multirun_api_keys ADD COLUMN id TEXT`
  yield* sql`ALTER TABLE multirun_api_keys ADD COLUMN expires_at BIGINT`
  yield* sql`ALTER TABLE multirun_api_keys ADD COLUMN last_used_at BIGINT`
  yield* sql`ALTER TABLE multirun_api_keys ADD COLUMN revoked_at BIGINT`
  yield* sql`UPDATE multirun_api_keys SET id = substr(key_hash, 1, 16)`
  yield* sql`CREATE UNIQUE INDEX multirun_api_keys_id ON multirun_api_keys (id)`
})

/**
 * The server's migrations, keyed `<id>_<name>` as `Migrator.fromRecord` expects.
 *
 * @since 0.2.0
 */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "1_keys_and_batches": keysAndBatches,
  "2_key_lifecycle": keyLifecycle
}

/**
 * Applies the server's missing migrations to the database at `location` (named in errors); the
 * store's tables must be migrated first (`SqliteClientLayer`, `PgClientLayer`).
 *
 * @since 0.2.0
 */
export const run = (location: string): Effect.Effect<void, StoreError, SqlClient.SqlClient> =>
  StoreMigrations.apply(location, { migrations, table: migrationsTable })
