import { assert, it, layer } from "@effect/vitest"
import { RunContext, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { conformance, describePg, pgSchema, pgUrl } from "@multirun/core/test-utils"
import { Context, Effect, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { PgClientLayer, PgLayer, ProjectView } from "../src/index.js"
import { pgDatabase } from "./helpers.js"
import { scenarios } from "./scenarios.js"

/** The schema the conformance tests share, migrated once: each test writes to a project of its own. */
class ConformanceSchema extends Context.Tag("@multirun/sql/test/PgLayer/ConformanceSchema")<ConformanceSchema, string>() {}

describePg("PgLayer", () => {
  // a schema per test spent most of each test migrating it; a new project per test isolates as well
  layer(Layer.scoped(ConformanceSchema, pgSchema))((it) => {
    conformance("PgLayer", () =>
      Layer.unwrapEffect(Effect.map(ConformanceSchema, (schema) =>
        PgLayer({ url: pgUrl, schema, project: `conformance-${randomUUID()}` }))), it)
  })

  scenarios("PgLayer", pgDatabase())

  it.scopedLive("an unreachable server is StoreError(Unavailable) without the password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: "postgres://me:secret@127.0.0.1:1/nowhere" })))
      assert.strictEqual(error.reason, "Unavailable")
      assert.notInclude(error.message, "secret")
      assert.include(error.message, "127.0.0.1:1")
    }))

  it.scopedLive("PgClientLayer: the migrated SqlClient without a store; its errors are the same StoreErrors", () =>
    Effect.gen(function*() {
      const [url, schema] = [pgUrl, yield* pgSchema]
      const runId = yield* withRun("written")(Effect.map(RunContext, (run) => run.runId)).pipe(
        Effect.provide(PgLayer({ url, schema }))
      )
      const run = yield* Effect.flatMap(MultiRunClient, (view) => view.getRun(runId)).pipe(
        Effect.provide(ProjectView.layer()),
        Effect.provide(PgClientLayer({ url, schema }))
      )
      assert.strictEqual(Option.getOrThrow(run).status, "completed")
      const unreachable = yield* Effect.flip(Layer.build(PgClientLayer({ url: "postgres://me:secret@127.0.0.1:1/x" })))
      assert.strictEqual(unreachable.reason, "Unavailable")
      assert.notInclude(unreachable.message, "secret")
      const malformed = yield* Effect.flip(Layer.build(PgClientLayer({ url, schema: "1bad" })))
      assert.strictEqual(malformed.reason, "InvalidOptions")
    }))

  it.scopedLive("a malformed schema name is StoreError(InvalidOptions)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: pgUrl, schema: "x; DROP TABLE y" })))
      assert.strictEqual(error.reason, "InvalidOptions")
    }))
})
