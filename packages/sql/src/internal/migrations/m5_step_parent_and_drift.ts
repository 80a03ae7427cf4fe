/**
 * Migration 5: steps know the step they ran inside and whether replay found them drifted: two
 * nullable columns (NULL for every step written before). Migration 4 (frozen at the layout of
 * version 7) creates the table with them, so a database made from scratch has them already.
 *
 * Frozen: the schema change of version 5 as it was made. Never edit it: a new change is a new
 * migration. It imports nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** The names of the step table's columns (a copy per migration: each is frozen on its own). */
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

/** Adds `parent_id` and `drift` when missing. */
export const stepParentAndDrift = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const has = yield* stepTableColumns
  const bytes = sql.onDialectOrElse({ pg: () => "BYTEA", orElse: () => "BLOB" })
  if (!has.has("parent_id")) yield* sql.unsafe(`ALTER TABLE multirun_steps ADD COLUMN parent_id ${bytes}`)
  if (!has.has("drift")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN drift TEXT`
})
