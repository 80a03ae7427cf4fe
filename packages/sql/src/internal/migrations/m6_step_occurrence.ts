/**
 * Migration 6: replay without a row per replayed call: a step records its place among the calls
 * of its key and the records replayed inside its body. Two nullable columns, NULL for every step
 * written before (read as "count the attempt's rows", which those attempts wrote for every
 * call). Migration 4 (frozen at the layout of version 7) creates them already.
 *
 * Frozen: the schema change of version 6 as it was made. Never edit it: a new change is a new
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

/** Adds `occurrence` and `replayed_inside` when missing. */
export const stepOccurrence = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const has = yield* stepTableColumns
  if (!has.has("occurrence")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN occurrence INTEGER`
  if (!has.has("replayed_inside")) yield* sql`ALTER TABLE multirun_steps ADD COLUMN replayed_inside TEXT`
})
