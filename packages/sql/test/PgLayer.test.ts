import { assert, describe, it } from "@effect/vitest"
import { conformance } from "@multirun/core/test-utils"
import { Effect, Layer } from "effect"
import { afterAll } from "vitest"
import { PgLayer } from "../src/index.js"
import { dropSchema, freshPgLayer, pgDatabase, pgUrl, probePg } from "./helpers.js"
import { scenarios } from "./scenarios.js"

const available = await probePg()
const schemas: Array<string> = []
afterAll(() => Promise.all(schemas.map(dropSchema)))

describe.runIf(available)("PgLayer", () => {
  conformance("PgLayer", freshPgLayer)

  scenarios("PgLayer", () => pgDatabase(schemas))

  it.live("an unreachable server is StoreError(Unavailable) without the password", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: "postgres://me:secret@127.0.0.1:1/nowhere" })))
      assert.strictEqual(error.reason, "Unavailable")
      assert.notInclude(error.message, "secret")
      assert.include(error.message, "127.0.0.1:1")
    }).pipe(Effect.scoped))

  it.live("a malformed schema name is StoreError(InvalidOptions)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(PgLayer({ url: pgUrl, schema: "x; DROP TABLE y" })))
      assert.strictEqual(error.reason, "InvalidOptions")
    }).pipe(Effect.scoped))
})
