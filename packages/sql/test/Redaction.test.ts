/**
 * Redaction on the SQL stores: the secrets of the redaction scenario are absent from the SQLite
 * file's raw bytes (database and WAL) and from every PostgreSQL row read as text, and a resume in
 * a fresh scope replays the step whose stored input was redacted.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Redaction } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import {
  assertNoSecrets,
  describePg,
  type Executions,
  pgSchema,
  pgUrl,
  recordSecrets,
  resumeSecrets,
  secretRules,
  secrets,
  tempFile
} from "@multirun/core/test-utils"
import { Effect, Layer, Redacted } from "effect"
import * as fs from "node:fs"
import { PgLayer, SqliteLayer } from "../src/index.js"

const zero = (): Executions => ({ lookup: 0, answer: 0, charge: 0 })

/** The database file and its WAL as they are on disk now, as one text. */
const fileBytes = (filename: string): string =>
  [filename, `${filename}-wal`]
    .filter((file) => fs.existsSync(file))
    .map((file) => fs.readFileSync(file).toString("latin1"))
    .join("\n")

/**
 * Records the scenario, then resumes it in a fresh scope. `stored` reads what the store holds; it
 * runs while the backend is open (after a flush) and after it closed, after each of the two runs.
 */
const recordAndResume = <E>(
  open: () => Layer.Layer<MultiRunClient, E>,
  stored: Effect.Effect<string, unknown>
) =>
  Effect.gen(function*() {
    const layer = Layer.merge(open(), Redaction.layer(secretRules))
    const checked = <A, E2, R>(where: string, effect: Effect.Effect<A, E2, R>) =>
      effect.pipe(
        Effect.tap(() => Effect.flatMap(MultiRunClient, (client) => client.flush)),
        Effect.tap(() => Effect.map(stored, (text) => assertNoSecrets(`${where}, backend open`, text))),
        Effect.provide(layer),
        Effect.tap(() => Effect.map(stored, (text) => assertNoSecrets(`${where}, backend closed`, text)))
      )
    const { runId } = yield* checked("after the run", recordSecrets(zero()))
    const executions = zero()
    const resumed = yield* checked("after the resume", resumeSecrets(runId, executions))
    assert.strictEqual(executions.lookup, 0, "the step with a redacted input is replayed, not executed")
    assert.strictEqual(executions.answer, 1, "the step with a redacted output runs again")
    assert.strictEqual(resumed.answer.key, secrets.openAi)
  })

describe("Redaction on SQLite", () => {
  it.scopedLive("no secret is in the file's bytes, while open (with its WAL) and after close; replay still matches", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      // the control: without the layer, the same grep finds the secrets
      yield* recordSecrets(zero()).pipe(Effect.provide(SqliteLayer({ filename: `${filename}.plain` })))
      assert.include(fileBytes(`${filename}.plain`), secrets.email)
      assert.include(fileBytes(`${filename}.plain`), secrets.openAi)

      yield* recordAndResume(() => SqliteLayer({ filename }), Effect.sync(() => fileBytes(filename)))
    }))
})

describePg("Redaction on PostgreSQL", () => {
  it.scopedLive("no secret is in any row of any table, read as text; replay still matches", () =>
    Effect.gen(function*() {
      const schema = yield* pgSchema
      const rows = Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const tables = yield* sql<{ table_name: string }>`
          SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`
        assert.includeMembers(tables.map((t) => t.table_name), ["multirun_checkpoints", "multirun_runs", "multirun_steps"])
        const texts = yield* Effect.forEach(tables, ({ table_name }) =>
          sql<{ row: string }>`SELECT t::text AS row FROM ${sql(schema)}.${sql(table_name)} t`)
        return texts.flat().map((r) => r.row).join("\n")
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl) })), Effect.scoped)
      yield* recordAndResume(() => PgLayer({ url: pgUrl, schema }), rows)
    }))
})
