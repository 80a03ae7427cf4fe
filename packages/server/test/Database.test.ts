import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { assertNone, assertSome } from "@multirun/core/test-utils"
import { SqliteClientLayer } from "@multirun/sql"
import { Effect, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as ApiKeys from "../src/ApiKeys.js"
import * as Database from "../src/Database.js"
import * as Ingest from "../src/Ingest.js"
import * as Migrations from "../src/Migrations.js"
import { Store } from "../src/Store.js"
import * as StoreLayer from "../src/Store.js"
import { batchOf, describePg, tempDir } from "@multirun/core/test-utils"
import type { Scope } from "effect"
import * as TestServer from "./TestServer.js"

/** The server's database behaviours, on a database made by `database` (removed with its scope). */
const scenarios = (database: Effect.Effect<Database.Options, never, Scope.Scope>) => {
  it.scopedLive("API keys: a key verifies to its project, an unknown key to none, only its hash is stored", () =>
    Effect.gen(function*() {
      const key = yield* ApiKeys.create("tenant")
      const other = yield* ApiKeys.create("other")
      assert.match(key, /^mr_[A-Za-z0-9_-]{43}$/)
      assert.notStrictEqual(key, other)
      assertSome(yield* ApiKeys.verify(key), "tenant")
      assertSome(yield* ApiKeys.verify(other), "other")
      assertNone(yield* ApiKeys.verify(`${key}x`))
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ key_hash: string; created_at: unknown }>`SELECT key_hash, created_at FROM multirun_api_keys`
      assert.strictEqual(rows.length, 2)
      assert.isTrue(rows.every((row) => /^[0-9a-f]{64}$/.test(row.key_hash) && row.key_hash !== key))
      assert.isAbove(Number(rows[0]!.created_at), 1_600_000_000_000)
    }).pipe(Effect.provide(Layer.unwrapScoped(Effect.map(database, Database.layer)))))

  it.scopedLive("ingest writes a batch once per batch id, in the batch's project, visible at once to its views", () =>
    Effect.gen(function*() {
      const batch = batchOf("batch-1", "ingested", 3)
      const again = batchOf("batch-1", "ingested", 9)
      const [first, second, other] = yield* Effect.all([
        Ingest.ingest("tenant", batch),
        Ingest.ingest("tenant", again),
        Ingest.ingest("other", again)
      ])
      assert.deepStrictEqual([first.stored, first.duplicate], [5, false])
      assert.deepStrictEqual([second.stored, second.duplicate], [0, true])
      assert.deepStrictEqual([other.stored, other.duplicate], [11, false])
      const store = yield* Store
      const [tenant, others] = yield* Effect.all([store.view("tenant"), store.view("other")])
      assert.deepStrictEqual((yield* tenant.listSteps("ingested")).map((s) => s.seq), [0, 1, 2])
      assert.strictEqual((yield* others.listSteps("ingested")).length, 9)
      assert.isTrue(Option.isNone(yield* (yield* store.view("nobody")).getRun("ingested")))
    }).pipe(
      Effect.provide(StoreLayer.layer),
      Effect.provide(Layer.unwrapScoped(Effect.map(database, Database.layer)))
    ))
}

describe("server database on SQLite", () => {
  scenarios(TestServer.sqliteDatabase)

  it.scopedLive("a 0.1 database keeps its API keys and ingested batch ids, and the server serves it", () =>
    Effect.gen(function*() {
      const database = { filename: path.join(yield* tempDir(), "server.db") }
      const key = "mr_key-made-by-0.1"
      // multirun 0.1 made these two tables with the store's tables; the server's migrations never ran
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE multirun_api_keys (key_hash TEXT PRIMARY KEY, project TEXT NOT NULL, created_at BIGINT NOT NULL)`
        yield* sql`CREATE TABLE multirun_ingest_batches (
          project TEXT NOT NULL, batch_id TEXT NOT NULL, PRIMARY KEY (project, batch_id))`
        yield* sql`INSERT INTO multirun_api_keys ${
          sql.insert({ key_hash: createHash("sha256").update(key).digest("hex"), project: "legacy", created_at: 1 })
        }`
        yield* sql`INSERT INTO multirun_ingest_batches ${sql.insert({ project: "legacy", batch_id: "old-batch" })}`
      }).pipe(Effect.provide(SqliteClientLayer(database)))

      const migrations = yield* Effect.gen(function*() {
        assertSome(yield* ApiKeys.verify(key), "legacy")
        const replayed = yield* Ingest.ingest("legacy", batchOf("old-batch", "legacy-run", 2))
        assert.deepStrictEqual([replayed.stored, replayed.duplicate], [0, true])
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ migration_id: number }>`SELECT migration_id FROM ${sql(Migrations.migrationsTable)}`
      }).pipe(Effect.provide(Database.layer(database)))
      assert.deepStrictEqual(migrations.map((row) => Number(row.migration_id)), [1, 2])

      const server = yield* TestServer.start(database)
      const fresh = yield* Effect.promise(() =>
        TestServer.request(server.url, { method: "POST", path: "/api/ingest", key, body: JSON.stringify(batchOf("new-batch", "legacy-run", 2)) })
      )
      assert.deepStrictEqual(fresh.body, { stored: 4, duplicate: false, rejected: [] })
      const runs = yield* Effect.promise(() => TestServer.request(server.url, { path: "/api/runs", key }))
      assert.deepStrictEqual(runs.body.map((run: { id: string }) => run.id), ["legacy-run"])
    }))
})

describePg("server database on PostgreSQL", () => {
  scenarios(TestServer.pgDatabase)

  it.scopedLive("replicas opening a new schema at the same moment all start: the migrations run one at a time", () =>
    Effect.gen(function*() {
      // each round: four servers' databases (four pools, as four processes) on one new schema at once
      for (let round = 0; round < 5; round++) {
        const database = yield* TestServer.pgDatabase
        const opened = yield* Effect.all(
          Array.from({ length: 4 }, () => Effect.scoped(Effect.either(Layer.build(Database.layer(database))))),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(opened.filter((result) => result._tag === "Left").map((result) => String(result.left)), [])
        const versions = yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ migration_id: number }>`SELECT migration_id FROM ${sql(Migrations.migrationsTable)}`
        }).pipe(Effect.provide(Database.layer(database)))
        assert.deepStrictEqual(versions.map((row) => Number(row.migration_id)), [1, 2])
      }
    }))
})
