/**
 * Databases made by multirun 0.1, by schema version 3 and by 0.2.0 (schema 4) open with this
 * version and read the same records; steps written after the upgrade keep their parent and drift;
 * run and agent totals of 0.2.0 learn their unknown costs and what forks inherit (migration 7); a
 * database already at the current version is only read when opened.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { assertSome, describePg, pgSchema, pgUrl, tempFile } from "@multirun/core/test-utils"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import * as Run from "@multirun/core/Run"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { Migrations, PgLayer, SqliteLayer } from "../src/index.js"
import { idBytes } from "../src/internal/stepRows.js"
import * as V01 from "./fixtures/v01.js"
import * as V03 from "./fixtures/v03.js"
import { createV04Database } from "./fixtures/v04.js"
import * as V04Totals from "./fixtures/v04Totals.js"

/** The versions a database can be made by, with what it must read back. */
const fixtures = {
  "0.1": { create: V01.createV01Database, v03Steps: [] },
  "schema 3": { create: V03.createV03Database, v03Steps: V03.steps },
  "0.2.0 (schema 4)": { create: createV04Database, v03Steps: V03.steps }
} as const

/**
 * Makes a database of `version` with `raw` (a client that runs no migration), then opens it twice
 * with `open`: the records read back are those written, and the steps are in the compact layout.
 */
const opensDatabaseOf = (
  version: keyof typeof fixtures,
  raw: Layer.Layer<SqlClient.SqlClient, unknown>,
  open: () => ReturnType<typeof SqliteLayer>
) =>
  Effect.gen(function*() {
    const fixture = fixtures[version]
    yield* Effect.provide(fixture.create, raw)
    for (let opening = 0; opening < 2; opening++) {
      yield* Effect.gen(function*() {
        const client = yield* MultiRunClient
        assertSome(yield* client.getRun("run-1"), V01.run)
        assert.deepStrictEqual(yield* client.listRuns({ tag: "old" }), [V01.run])
        assert.deepStrictEqual(yield* client.listAgents("run-1"), [V01.agent])
        assert.deepStrictEqual(yield* client.listSteps("run-1"), V01.steps)
        assert.deepStrictEqual(yield* client.listCheckpoints("run-1"), [V01.checkpoint])
        const checkpoint = yield* Effect.flatMap(Checkpoints, (c) => c.get("checkpoint-1"))
        assert.deepStrictEqual(checkpoint.runState, { phase: "middle" })

        const sql = yield* SqlClient.SqlClient
        assert.deepStrictEqual((yield* client.listSteps(V03.runId)).filter((step) => step.seq < 100), fixture.v03Steps)
        const rows = yield* sql<Record<string, unknown>>`SELECT * FROM multirun_steps WHERE run_id = ${idBytes("run-1")}
          ORDER BY seq`
        assert.deepStrictEqual(rows.map((row) => [row.input, row.output]), V01.steps.map((s) => [s.input, s.output]))
        assert.notInclude(Object.keys(rows[0]!), "record")
        const uuids = yield* sql<{ id: Uint8Array; run_id: Uint8Array }>`SELECT id, run_id FROM multirun_steps
          WHERE run_id = ${idBytes(V03.runId)}`
        assert.deepStrictEqual(
          uuids.map((row) => [row.id.length, row.run_id.length]),
          [...fixture.v03Steps, ...Array.from({ length: opening })].map(() => [16, 16])
        )
        const migrations = yield* sql<{ migration_id: number }>`
          SELECT migration_id FROM multirun_migrations ORDER BY migration_id`
        assert.deepStrictEqual(migrations.map((row) => Number(row.migration_id)), [1, 2, 3, 4, 5, 6, 7])
        assert.strictEqual(yield* Migrations.storedVersion, Migrations.schemaVersion)
        // The server's tables of 0.1 and their rows are left as they were.
        const [keys] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_api_keys`
        const [batches] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_ingest_batches`
        assert.deepStrictEqual([Number(keys!.n), Number(batches!.n)], [1, 1])
        // a step written now keeps the step it ran inside and its drift mark
        const child = { ...V03.steps[0]!, id: `01900000-0000-7${String(100 + opening)}-8000-000000000002`, seq: 100 + opening }
        yield* client.writeStep({ ...child, parentId: V03.steps[0]!.id, drift: "input.q" })
        yield* client.flush
        const written = (yield* client.listSteps(V03.runId)).find((step) => step.seq === child.seq)
        assert.deepStrictEqual([written?.parentId, written?.drift], [V03.steps[0]!.id, "input.q"])
      }).pipe(Effect.provide(open()))
    }
  })

/** The totals compared: counts, the cost (null when unknown) and the steps of unknown cost. */
const totalsOf = (t: { stepCount: number; tokensUsed: number; costUsd: number | null; unpricedSteps?: number | undefined }) => [
  t.stepCount,
  t.tokensUsed,
  t.costUsd,
  t.unpricedSteps
]

/**
 * Migration 7 on runs of a 0.2.0 database: a run and an agent whose every executed step is
 * unpriced cost null, mixed ones count their unpriced steps, forks get what they inherit.
 */
const rewritesTotalsOf0_2 = (raw: Layer.Layer<SqlClient.SqlClient, unknown>, open: () => ReturnType<typeof SqliteLayer>) =>
  Effect.gen(function*() {
    yield* Effect.provide(V04Totals.createV04TotalsDatabase, raw)
    yield* Effect.gen(function*() {
      const client = yield* MultiRunClient
      const run = (id: string) => Effect.map(client.getRun(id), (r) => Option.getOrThrow(r))
      const agents = (runId: string) => Effect.map(client.listAgents(runId), (list) => list.map((a) => [a.id, ...totalsOf(a)]))
      assert.deepStrictEqual(totalsOf(yield* run("unpriced")), [2, 20, null, 2])
      assert.deepStrictEqual(yield* agents("unpriced"), [["unpriced-agent", 2, 20, null, 2]])
      assert.deepStrictEqual(totalsOf(yield* run("mixed")), [3, 30, 0.5, 2])
      assert.deepStrictEqual(yield* agents("mixed"), [["mixed-a", 2, 20, 0.5, 1], ["mixed-b", 1, 10, null, 1]])
      assert.isUndefined((yield* run("mixed")).inherited, "not a fork: left as it was")
      const inherited = (id: string) => Effect.map(run(id), (r) => r.inherited == null ? r.inherited : totalsOf(r.inherited))
      assert.deepStrictEqual(yield* inherited("fork-one"), [2, 20, 0.5, 0])
      assert.deepStrictEqual(yield* inherited("fork-of-fork"), [3, 30, 0.75, 0])
      assert.isUndefined(yield* inherited("fork-gone"), "its checkpoint is gone: nothing to tell")
      // a fork's own totals are left as they were
      assert.deepStrictEqual(totalsOf(yield* run("fork-of-fork")), [1, 10, 0.125, undefined])
      // every record still decodes
      for (const r of yield* client.listRuns({})) Schema.decodeUnknownSync(Run.Run)(r)
    }).pipe(Effect.provide(open()))
  })

describe("migration 7 on a database of 0.2.0", () => {
  it.scopedLive("SQLite: unknown costs become null and are counted, forks get what they inherit", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      yield* rewritesTotalsOf0_2(SqliteClient.layer({ filename }), () => SqliteLayer({ filename, project: "legacy" }))
    }))

  describePg("on PostgreSQL", () => {
    it.scopedLive("PostgreSQL: unknown costs become null and are counted, forks get what they inherit", () =>
      Effect.gen(function*() {
        const schema = yield* pgSchema
        yield* rewritesTotalsOf0_2(rawPg(schema), () => PgLayer({ url: pgUrl, schema, project: "legacy" }))
      }))
  })
})

/** A client on a new PostgreSQL schema that runs no migration. */
const rawPg = (schema: string) => {
  const url = new URL(pgUrl)
  url.searchParams.set("options", `-c search_path="${schema}"`)
  return Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE SCHEMA ${sql(schema)}`))
    .pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url.toString()) })))
}

for (const version of ["0.1", "schema 3", "0.2.0 (schema 4)"] as const) {
  describe(`a database of ${version}`, () => {
    it.scopedLive("SQLite: opens, reads the same records, stores steps compactly, vacuums incrementally", () =>
      Effect.gen(function*() {
        const filename = yield* tempFile()
        yield* opensDatabaseOf(version, SqliteClient.layer({ filename }), () => SqliteLayer({ filename, project: "legacy" }))
        const raw = SqliteClient.layer({ filename })
        const [mode] = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ auto_vacuum: unknown }>`PRAGMA auto_vacuum`)
          .pipe(Effect.provide(raw))
        assert.strictEqual(Number(mode!.auto_vacuum), 2)
        const [table] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ wr: unknown }>`SELECT wr FROM pragma_table_list WHERE name = 'multirun_steps'`
        ).pipe(Effect.provide(raw))
        assert.strictEqual(Number(table!.wr), 1, "the step table has no rowid")
      }))
  })

  describePg(`a PostgreSQL database of ${version}`, () => {
    it.scopedLive("PostgreSQL: opens, reads the same records, and stores steps compactly", () =>
      Effect.gen(function*() {
        const schema = yield* pgSchema
        yield* opensDatabaseOf(version, rawPg(schema), () => PgLayer({ url: pgUrl, schema, project: "legacy" }))
      }))
  })
}

describe("a database already at the current schema version", () => {
  it.scopedLive("SQLite: opening it again writes nothing to the schema's own tables", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      yield* Effect.scoped(Layer.build(SqliteLayer({ filename })))
      // every write to the version table or the migrations' own table from here on is logged
      yield* Effect.provide(
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE write_log (what TEXT)`
          for (const table of ["multirun_meta", "multirun_migrations"]) {
            for (const event of ["INSERT", "UPDATE", "DELETE"]) {
              yield* sql.unsafe(`CREATE TRIGGER log_${table}_${event} AFTER ${event} ON ${table}
                BEGIN INSERT INTO write_log VALUES ('${event} ${table}'); END`)
            }
          }
        }),
        SqliteClient.layer({ filename })
      )
      const logged = yield* Effect.scoped(Effect.flatMap(
        Layer.build(SqliteLayer({ filename })),
        (context) => Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ what: string }>`SELECT what FROM write_log`), context)
      ))
      assert.deepStrictEqual(logged, [])
    }))
})
