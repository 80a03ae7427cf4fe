/** A database made by multirun 0.1 opens with this version and reads the same records. */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { describePg, pgSchema, pgUrl, tempFile } from "@multirun/core/test-utils"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Effect, Layer, Option, Redacted } from "effect"
import { Migrations, PgLayer, SqliteLayer } from "../src/index.js"
import * as V01 from "./fixtures/v01.js"

/** Makes a 0.1 database with `raw` (a client that runs no migration), then opens it twice with `open`. */
const opensDatabaseOfV01 = (
  raw: Layer.Layer<SqlClient.SqlClient, unknown>,
  open: () => ReturnType<typeof SqliteLayer>
) =>
  Effect.gen(function*() {
    yield* Effect.provide(V01.createV01Database, raw)
    for (let opening = 0; opening < 2; opening++) {
      yield* Effect.gen(function*() {
        const client = yield* MultiRunClient
        assert.deepStrictEqual(yield* client.getRun("run-1"), Option.some(V01.run))
        assert.deepStrictEqual(yield* client.listRuns({ tag: "old" }), [V01.run])
        assert.deepStrictEqual(yield* client.listAgents("run-1"), [V01.agent])
        assert.deepStrictEqual(yield* client.listSteps("run-1"), V01.steps)
        assert.deepStrictEqual(yield* client.listCheckpoints("run-1"), [V01.checkpoint])
        const checkpoint = yield* Effect.flatMap(Checkpoints, (c) => c.get("checkpoint-1"))
        assert.deepStrictEqual(checkpoint.runState, { phase: "middle" })

        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ input: string; output: string | null; record: string }>`
          SELECT input, output, record FROM multirun_steps ORDER BY seq`
        assert.deepStrictEqual(rows.map((row) => [row.input, row.output]), V01.steps.map((s) => [s.input, s.output]))
        for (const row of rows) {
          assert.deepStrictEqual(
            Object.keys(JSON.parse(row.record)).filter((key) => ["id", "runId", "seq", "input", "output"].includes(key)),
            []
          )
        }
        const migrations = yield* sql<{ migration_id: number }>`
          SELECT migration_id FROM multirun_migrations ORDER BY migration_id`
        assert.deepStrictEqual(migrations.map((row) => Number(row.migration_id)), [1, 2, 3])
        assert.strictEqual(yield* Migrations.storedVersion, Migrations.schemaVersion)
        // The server's tables of 0.1 and their rows are left as they were.
        const [keys] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_api_keys`
        const [batches] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_ingest_batches`
        assert.deepStrictEqual([Number(keys!.n), Number(batches!.n)], [1, 1])
      }).pipe(Effect.provide(open()))
    }
  })

describe("a database of multirun 0.1", () => {
  it.scopedLive("SQLite: opens, reads the same records, keeps each step's input and output once, vacuums incrementally", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      yield* opensDatabaseOfV01(
        SqliteClient.layer({ filename }),
        () => SqliteLayer({ filename, project: "legacy" })
      )
      const [mode] = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ auto_vacuum: unknown }>`PRAGMA auto_vacuum`)
        .pipe(Effect.provide(SqliteClient.layer({ filename })))
      assert.strictEqual(Number(mode!.auto_vacuum), 2)
    }))
})

describePg("a PostgreSQL database of multirun 0.1", () => {
  it.scopedLive("PostgreSQL: opens, reads the same records, and keeps each step's input and output once", () =>
    Effect.gen(function*() {
    const schema = yield* pgSchema
    const url = new URL(pgUrl)
    url.searchParams.set("options", `-c search_path="${schema}"`)
    const raw = Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE SCHEMA ${sql(schema)}`)).pipe(
      Layer.provideMerge(PgClient.layer({ url: Redacted.make(url.toString()) }))
    )
    yield* opensDatabaseOfV01(raw, () => PgLayer({ url: pgUrl, schema, project: "legacy" }))
  }))
})
