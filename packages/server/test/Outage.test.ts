import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, RemoteLayer, RunContext, step, withRun } from "@multirun/core"
import { Effect, Exit, Fiber, Option, Ref, Schedule, Scope } from "effect"
import { sqliteDatabase, sqlOf, startServer } from "./utils.js"

const totalSteps = 2_000

describe("outage", () => {
  it.live("the server stops for a few seconds mid-run: the run waits, completes, and every step is stored once", () =>
    Effect.gen(function*() {
      const database = sqliteDatabase()
      const firstScope = yield* Scope.make()
      const first = yield* Scope.extend(startServer(database), firstScope)
      const apiKey = yield* first.keyFor("outage")
      const progress = yield* Ref.make(0)
      const remote = RemoteLayer({ url: first.url, apiKey, maxBatch: 50, capacity: 200, retryMax: "200 millis" })

      const run = yield* withRun("outage")(Effect.gen(function*() {
        for (let i = 0; i < totalSteps; i++) {
          yield* Effect.sleep("1 millis").pipe(Effect.as(i * 2), step("work", { input: { i } }))
          yield* Ref.update(progress, (n) => n + 1)
        }
        return (yield* RunContext).runId as string
      })).pipe(Effect.provide(remote), Effect.fork)

      yield* Effect.repeat(Ref.get(progress), { until: (n) => n >= 500, schedule: Schedule.spaced("5 millis") })
      yield* Scope.close(firstScope, Exit.void)
      const atStop = yield* Ref.get(progress)
      yield* Effect.sleep("3 seconds")

      // While the server is away the run is not failed and is held back by the bounded buffer.
      assert.isTrue(Option.isNone(yield* Fiber.poll(run)), "the run is still going")
      const duringOutage = yield* Ref.get(progress)
      assert.isBelow(duringOutage, totalSteps, "the run waits for the server")
      assert.isAtMost(duringOutage - atStop, 200 + 50 + 2, "at most the buffer's capacity was recorded meanwhile")

      const secondScope = yield* Scope.make()
      const second = yield* Scope.extend(startServer(database, { port: first.port }), secondScope)
      assert.strictEqual(second.port, first.port)
      const runId = yield* Fiber.join(run)

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(RemoteLayer({ url: second.url, apiKey })))
      const steps = yield* client.listSteps(runId)
      assert.strictEqual(steps.length, totalSteps)
      assert.deepStrictEqual(steps.map((s) => s.seq), Array.from({ length: totalSteps }, (_, i) => i))
      assert.deepStrictEqual(steps.map((s) => JSON.parse(s.output!)), Array.from({ length: totalSteps }, (_, i) => i * 2))
      const stored = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(stored.status, "completed")
      assert.strictEqual(stored.stepCount, totalSteps)
      const sql = sqlOf(second)
      const [rows] = yield* sql<{ n: number; distinct_seq: number }>`
        SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_seq FROM multirun_steps WHERE run_id = ${runId}`
      assert.deepStrictEqual([Number(rows!.n), Number(rows!.distinct_seq)], [totalSteps, totalSteps])
      yield* Scope.close(secondScope, Exit.void)
    }), { timeout: 60_000 })
})
