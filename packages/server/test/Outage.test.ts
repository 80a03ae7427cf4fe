import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, RunContext, step, withRun } from "@multirun/core"
import { eventually } from "@multirun/core/test-utils"
import * as StepRows from "@multirun/sql/StepRows"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import { memoryRemote, sqliteDatabase, start } from "./TestServer.js"

const totalSteps = 2_000
const capacity = 200
const maxBatch = 50

describe("outage", () => {
  it.scopedLive("the server stops mid-run: the run waits, completes after the restart, and every step is stored once", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase
      const firstScope = yield* Scope.make()
      const first = yield* Scope.extend(start(database), firstScope)
      const apiKey = yield* first.keyFor("outage")
      const progress = yield* Ref.make(0)
      const halfway = yield* Deferred.make<void>()
      const stopped = yield* Deferred.make<void>()
      const remote = memoryRemote({ url: first.url, apiKey, maxBatch, capacity, retryMax: "200 millis" })

      const run = yield* withRun("outage")(Effect.gen(function*() {
        for (let i = 0; i < totalSteps; i++) {
          // the server goes away at step 500: the run waits here until it has
          if (i === 500) yield* Deferred.succeed(halfway, undefined).pipe(Effect.zipRight(Deferred.await(stopped)))
          yield* Effect.succeed(i * 2).pipe(step("work", { input: { i } }))
          yield* Ref.update(progress, (n) => n + 1)
        }
        return (yield* RunContext).runId as string
      })).pipe(Effect.provide(remote), Effect.fork)

      yield* Deferred.await(halfway)
      yield* Scope.close(firstScope, Exit.void)
      const atStop = yield* Ref.get(progress)
      yield* Deferred.succeed(stopped, undefined)

      // The run goes on into the bounded buffer, then waits for the server: its progress stops.
      let last = -1
      yield* eventually(
        "the run is held back while the server is away",
        Effect.map(Ref.get(progress), (n) => {
          const still = n === last
          last = n
          return still
        }),
        { every: "300 millis", within: "30 seconds" }
      )
      assert.isTrue(Option.isNone(yield* Fiber.poll(run)), "the run is still going")
      const duringOutage = yield* Ref.get(progress)
      assert.isBelow(duringOutage, totalSteps, "the run waits for the server")
      assert.isAtMost(duringOutage - atStop, capacity + maxBatch + 2, "at most the buffer's capacity was recorded meanwhile")

      const secondScope = yield* Scope.make()
      const second = yield* Scope.extend(start(database, { port: first.port }), secondScope)
      assert.strictEqual(second.port, first.port)
      const runId = yield* Fiber.join(run)

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(memoryRemote({ url: second.url, apiKey })))
      const steps = yield* client.listSteps(runId)
      assert.strictEqual(steps.length, totalSteps)
      assert.deepStrictEqual(steps.map((s) => s.seq), Array.from({ length: totalSteps }, (_, i) => i))
      assert.deepStrictEqual(steps.map((s) => JSON.parse(s.output!)), Array.from({ length: totalSteps }, (_, i) => i * 2))
      const stored = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(stored.status, "completed")
      assert.strictEqual(stored.stepCount, totalSteps)
      const [rows] = yield* second.sql<{ n: number; distinct_seq: number }>`
        SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_seq FROM multirun_steps WHERE run_id = ${StepRows.runKey(runId)}`
      assert.deepStrictEqual([Number(rows!.n), Number(rows!.distinct_seq)], [totalSteps, totalSteps])
      yield* Scope.close(secondScope, Exit.void)
    }), { timeout: 60_000 })
})
