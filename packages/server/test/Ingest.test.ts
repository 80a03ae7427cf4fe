import { assert, layer, type Vitest } from "@effect/vitest"
import { HttpApiClientFor } from "@multirun/core/RemoteLayer"
import { batchOf, describePg } from "@multirun/core/test-utils"
import * as StepRows from "@multirun/sql/StepRows"
import { Effect, Redacted } from "effect"
import { httpClient, layerPg, layerSqlite, TestServer } from "./TestServer.js"

const duplicateDelivery = (it: Vitest.MethodsNonLive<TestServer, true>) =>
  it.effect("the same batch posted three times stores its events once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const key = yield* server.keyFor("ingest")
      const api = yield* HttpApiClientFor(server.url, Redacted.make(key))
      const batch = batchOf("batch-dup-1", "run-dup-1", 50)
      const first = yield* api.ingest.ingest({ payload: batch })
      const second = yield* api.ingest.ingest({ payload: batch })
      const third = yield* api.ingest.ingest({ payload: batch })
      assert.deepStrictEqual([first.stored, first.duplicate], [52, false])
      assert.deepStrictEqual([second.stored, second.duplicate], [0, true])
      assert.deepStrictEqual([third.stored, third.duplicate], [0, true])

      const steps = yield* api.runs.steps({ path: { runId: "run-dup-1" } })
      assert.strictEqual(steps.length, 50)
      assert.deepStrictEqual(steps.map((step) => step.seq), Array.from({ length: 50 }, (_, i) => i))
      const sql = server.sql
      const [rows] = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM multirun_steps WHERE run_id = ${StepRows.runKey("run-dup-1")}`
      assert.strictEqual(Number(rows!.n), 50)
      const [batches] = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM multirun_ingest_batches WHERE batch_id = ${"batch-dup-1"}`
      assert.strictEqual(Number(batches!.n), 1)

      // Another batch id with the same records is a new delivery: upserts keep one row per id.
      const again = yield* api.ingest.ingest({ payload: batchOf("batch-dup-2", "run-dup-1", 50) })
      assert.deepStrictEqual([again.stored, again.duplicate], [52, false])
      assert.strictEqual((yield* api.runs.steps({ path: { runId: "run-dup-1" } })).length, 50)
    }).pipe(Effect.provide(httpClient)))

layer(layerSqlite(), { excludeTestServices: true })("ingest on SQLite", duplicateDelivery)

describePg("PostgreSQL", () => {
  layer(layerPg(), { excludeTestServices: true })("ingest on PostgreSQL", duplicateDelivery)
})
