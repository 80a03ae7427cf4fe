/**
 * Migration 2: a step's canonical input and output text move out of its JSON record into
 * columns of their own, and the record loses the fields its columns hold (`id`, `runId`, `seq`):
 * nothing is stored twice, and the texts are no longer escaped inside the record. Existing rows
 * are rewritten in place.
 *
 * Frozen: the schema change of version 2 as it was made. Never edit it: a new change is a new
 * migration. It imports nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** Moves step input and output into columns. */
export const stepValues = Effect.gen(function*() {
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
