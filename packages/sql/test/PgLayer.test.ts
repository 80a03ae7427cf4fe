import { assert, it } from "@effect/vitest"
import { conformance, describePg, pgUrl } from "@multirun/core/test-utils"
import { Effect, Layer } from "effect"
import { PgLayer } from "../src/index.js"
import { freshLayer, pgDatabase } from "./helpers.js"
import { scenarios } from "./scenarios.js"

describePg("PgLayer", () => {
  conformance("PgLayer", () => freshLayer(pgDatabase()))

  scenarios("PgLayer", pgDatabase())

  it.scopedLive("an unreachable server is StoreError(Unavailable) without the password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: "postgres://me:secret@127.0.0.1:1/nowhere" })))
      assert.strictEqual(error.reason, "Unavailable")
      assert.notInclude(error.message, "secret")
      assert.include(error.message, "127.0.0.1:1")
    }))

  it.scopedLive("a malformed schema name is StoreError(InvalidOptions)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: pgUrl, schema: "x; DROP TABLE y" })))
      assert.strictEqual(error.reason, "InvalidOptions")
    }))
})
