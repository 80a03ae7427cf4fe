import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { conformance, tempDir, tempFile } from "@multirun/core/test-utils"
import { Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Migrations, ProjectView, SqliteClientLayer, SqliteLayer } from "../src/index.js"
import { freshLayer, sqliteDatabase } from "./helpers.js"
import { scenarios } from "./scenarios.js"

conformance("SqliteLayer", () => freshLayer(sqliteDatabase))

scenarios("SqliteLayer", sqliteDatabase)

const tables = (filename: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pipe(
      Effect.map((rows) => rows.map((row) => row.name)),
      Effect.provide(SqliteClient.layer({ filename, disableWAL: true }))
    )

describe("SqliteLayer", () => {
  it.scopedLive("creates missing parent directories, the tables and WAL mode", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir(), "nested", "deeper", "runs.db")
      const mode = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ journal_mode: string }>`PRAGMA journal_mode`)
        .pipe(Effect.provide(SqliteLayer({ filename })))
      assert.strictEqual(mode[0]!.journal_mode, "wal")
      assert.deepStrictEqual(yield* tables(filename), [
        "multirun_agents",
        "multirun_checkpoints",
        "multirun_leases",
        "multirun_meta",
        "multirun_migrations",
        "multirun_runs",
        "multirun_steps"
      ])
    }))

  it.scopedLive("SqliteClientLayer: the migrated SqlClient without a store, for ProjectView and other readers", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      const runId = yield* withRun("written")(Effect.succeed(1).pipe(step("one"), Effect.zipRight(RunContext))).pipe(
        Effect.map((run) => run.runId),
        Effect.provide(SqliteLayer({ filename }))
      )
      const [versions, run, steps] = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const versions = yield* sql<{ value: string }>`SELECT value FROM multirun_meta WHERE key = 'schema_version'`
        const view = yield* MultiRunClient
        return [versions.map((row) => row.value), yield* view.getRun(runId), yield* view.listSteps(runId)] as const
      }).pipe(Effect.provide(ProjectView.layer()), Effect.provide(SqliteClientLayer({ filename })))
      assert.deepStrictEqual(versions, [String(Migrations.schemaVersion)])
      assert.strictEqual(Option.getOrThrow(run).status, "completed")
      assert.deepStrictEqual(steps.map((s) => s.name), ["one"])

      const notes = yield* tempFile("notes.txt")
      fs.writeFileSync(notes, "not a database\n".repeat(100))
      const error = yield* Effect.flip(Layer.build(SqliteClientLayer({ filename: notes })))
      assert.strictEqual(error.reason, "NotADatabase")
      assert.include(error.message, notes)
    }))

  it.scopedLive("a file that is not a SQLite database is StoreError(NotADatabase) naming the file", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("notes.txt")
      fs.writeFileSync(filename, "these are my notes, not a database\n".repeat(100))
      const error = yield* Effect.flip(Layer.build(SqliteLayer({ filename })))
      assert.strictEqual(error.reason, "NotADatabase")
      assert.include(error.message, filename)
      assert.include(error.message, "not a SQLite database")
      assert.strictEqual(fs.readFileSync(filename, "utf8"), "these are my notes, not a database\n".repeat(100))
    }))

  it.scopedLive("another application's SQLite database is StoreError(NotMultirunDatabase) and stays untouched", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("app.db")
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE invoices (id INTEGER PRIMARY KEY)`).pipe(
        Effect.provide(SqliteClient.layer({ filename, disableWAL: true }))
      )
      const error = yield* Effect.flip(Layer.build(SqliteLayer({ filename })))
      assert.strictEqual(error.reason, "NotMultirunDatabase")
      assert.include(error.message, filename)
      assert.include(error.message, "invoices")
      assert.deepStrictEqual(yield* tables(filename), ["invoices"])
      const mode = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ journal_mode: string }>`PRAGMA journal_mode`)
        .pipe(Effect.provide(SqliteClient.layer({ filename, disableWAL: true })))
      assert.strictEqual(mode[0]!.journal_mode, "delete")
    }))

  it.scopedLive("a newer schema error names the file and says to upgrade", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`UPDATE multirun_meta SET value = ${String(Migrations.schemaVersion + 1)} WHERE key = 'schema_version'`).pipe(
          Effect.provide(SqliteLayer({ filename }))
        )
      const error = yield* Effect.flip(Layer.build(SqliteLayer({ filename })))
      assert.strictEqual(error.reason, "NewerSchema")
      assert.include(error.message, filename)
      assert.include(error.message, "upgrade @multirun/sql")
    }))
})
