/**
 * The 0.3 names of `@multirun/sql` (`Sqlite.layer`, `Sqlite.layerConfig`, `Pg.layer`,
 * `Pg.layerConfig`) from the package root, and a program written against 0.2's names
 * (`SqliteLayer`, `PgLayer`), which still compiles and runs: the deprecated aliases are the same
 * layers. The type checks are made by `tsc -b`, which type-checks this file.
 */
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { withRun } from "@multirun/core"
import { describePg, pgSchema, pgUrl, recordAndRead, tempFile } from "@multirun/core/test-utils"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import type { ConfigError } from "effect"
import * as fs from "node:fs"
import { Pg, PgLayer, Sqlite, SqliteLayer } from "../src/index.js"

/** `layer` with its config read from `values` instead of the environment. */
const fromMap = <A, E, R>(layer: Layer.Layer<A, E, R>, values: Record<string, string>) =>
  layer.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values))))))

const sqliteConfig = {
  filename: Config.string("MULTIRUN_SQLITE_FILE"),
  project: Config.string("MULTIRUN_PROJECT")
}

describe("0.3 names", () => {
  it.scoped("Sqlite.layer records a run in the file and reads it back", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("names.db")
      const recorded = yield* recordAndRead("names-sqlite").pipe(Effect.provide(Sqlite.layer({ filename })))
      assert.deepStrictEqual(recorded, {
        runs: [{ name: "names-sqlite", status: "completed" }],
        steps: ["plan", "answer"]
      })
      assert.isTrue(fs.existsSync(filename))
    }))

  it.scoped("Sqlite.layerConfig reads the file and the project through Config", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("names.db")
      const configured = fromMap(Sqlite.layerConfig(sqliteConfig), {
        MULTIRUN_SQLITE_FILE: filename,
        MULTIRUN_PROJECT: "from-config"
      })
      const recorded = yield* recordAndRead("names-config").pipe(Effect.provide(configured))
      assert.deepStrictEqual(recorded.runs, [{ name: "names-config", status: "completed" }])
      // the run went to that file, in that project
      const again = yield* recordAndRead("names-again").pipe(
        Effect.provide(Sqlite.layer({ filename, project: "from-config" }))
      )
      assert.deepStrictEqual(again.runs.map((run) => run.name).sort(), ["names-again", "names-config"])
    }))

  it.effect("Sqlite.layerConfig without its file fails with a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Layer.build(fromMap(Sqlite.layerConfig(sqliteConfig), { MULTIRUN_PROJECT: "p" })).pipe(Effect.scoped)
      )
      assert.include(String(error), "MULTIRUN_SQLITE_FILE")
    }))

  it("Sqlite and Pg layers have the 0.2 layers' types; layerConfig adds ConfigError", () => {
    expectTypeOf(Sqlite.layer({ filename: "x.db" })).toEqualTypeOf(SqliteLayer({ filename: "x.db" }))
    expectTypeOf(Pg.layer({ url: "postgres://localhost/db" })).toEqualTypeOf(PgLayer({ url: "postgres://localhost/db" }))
    expectTypeOf<Layer.Layer.Error<ReturnType<typeof Pg.layerConfig>>>().toEqualTypeOf<
      Layer.Layer.Error<ReturnType<typeof Pg.layer>> | ConfigError.ConfigError
    >()
  })
})

describe("0.2 names (deprecated aliases, kept through 0.3)", () => {
  it.scoped("a program written against SqliteLayer still runs", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("names.db")
      const program = withRun("names-old")(Effect.void)
      yield* program.pipe(Effect.provide(SqliteLayer({ filename })))
      const recorded = yield* recordAndRead("names-new").pipe(Effect.provide(Sqlite.layer({ filename })))
      assert.deepStrictEqual(recorded.runs.map((run) => run.name).sort(), ["names-new", "names-old"])
    }))
})

describePg("Pg names", () => {
  it.scoped("Pg.layerConfig reads the URL, the schema and the project through Config", () =>
    Effect.gen(function*() {
      const schema = yield* pgSchema
      const configured = fromMap(
        Pg.layerConfig({
          url: Config.string("MULTIRUN_PG_URL"),
          schema: Config.string("MULTIRUN_PG_SCHEMA"),
          project: Config.string("MULTIRUN_PROJECT")
        }),
        { MULTIRUN_PG_URL: pgUrl, MULTIRUN_PG_SCHEMA: schema, MULTIRUN_PROJECT: "from-config" }
      )
      const recorded = yield* recordAndRead("names-pg").pipe(Effect.provide(configured))
      assert.deepStrictEqual(recorded, {
        runs: [{ name: "names-pg", status: "completed" }],
        steps: ["plan", "answer"]
      })
      // the run went to that schema, in that project
      const again = yield* recordAndRead("names-pg-again").pipe(
        Effect.provide(Pg.layer({ url: pgUrl, schema, project: "from-config" }))
      )
      assert.deepStrictEqual(again.runs.map((run) => run.name).sort(), ["names-pg", "names-pg-again"])
    }))
})
