/** Behaviours every SQL database must show, run on SQLite and PostgreSQL. */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import * as Event from "@multirun/core/Event"
import { stepRecord as record } from "@multirun/core/test-utils"
import { Deferred, Effect, Fiber, Layer, Option } from "effect"
import type { Scope } from "effect"
import { ApiKeys, SqlStore } from "../src/index.js"
import { type Database, freshLayer } from "./helpers.js"

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Usage with a dyadic cost, so sums are exact whatever order concurrent steps finish in. */
const usage = (value: number) => ({ tokensUsed: value, costUsd: value / 1024 })

const stepRecord = (runId: string, seq: number) =>
  record(`${runId}-step-${String(seq).padStart(6, "0")}`, runId, `${runId}-agent`, seq)

/** Runs the shared scenarios against databases made by `newDatabase` (each removed with its scope). */
export const scenarios = (name: string, newDatabase: Effect.Effect<Database, never, Scope.Scope>) =>
  describe(`${name} scenarios`, () => {
    it.live("writes 20 runs x 4 agents x 250 steps concurrently with every record and exact totals", () => {
      const perRun = 4 * range(250).reduce((sum, i) => sum + (i % 7) + 1, 0)
      // cost totals are kept in whole nano-dollars: each step's cost is rounded to one first
      const perRunNanos = 4 * range(250).reduce((sum, i) => sum + Math.round(((i % 7) + 1) / 1024 * 1e9), 0)
      const oneRun = (r: number) =>
        withRun({ name: `load-${r}`, tags: ["load"] })(Effect.gen(function*() {
          yield* Effect.forEach(range(4), (a) =>
            withAgent(`agent-${a}`)(
              Effect.forEach(range(250), (i) =>
                Effect.succeed((i % 7) + 1).pipe(step("call", { input: { r, a, i }, usage })), { discard: true })
            ), { concurrency: "unbounded", discard: true })
          return (yield* RunContext).runId
        }))
      return Effect.gen(function*() {
        const runIds = yield* Effect.forEach(range(20), oneRun, { concurrency: "unbounded" })
        const client = yield* MultiRunClient
        const runs = yield* client.listRuns({ tag: "load" })
        assert.strictEqual(runs.length, 20)
        for (const runId of runIds) {
          const run = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(run.status, "completed")
          assert.strictEqual(run.stepCount, 1000)
          assert.strictEqual(run.tokensUsed, perRun)
          assert.strictEqual(run.costUsd, perRunNanos / 1e9)
          const steps = yield* client.listSteps(runId)
          assert.strictEqual(steps.length, 1000)
          assert.deepStrictEqual(steps.map((s) => s.seq), range(1000))
          const agents = yield* client.listAgents(runId)
          assert.deepStrictEqual(agents.map((a) => a.stepCount), [250, 250, 250, 250])
          assert.isTrue(agents.every((a) => a.status === "completed" && a.tokensUsed === perRun / 4))
        }
      }).pipe(Effect.provide(freshLayer(newDatabase)))
    }, 120_000)

    it.live("a burst of 50,000 steps through a small buffer waits for room and stores every step", () =>
      Effect.gen(function*() {
        const store = yield* SqlStore.make({ capacity: 1_000, maxBatch: 500 })
        yield* Effect.forEach(range(50_000), (seq) => store.writeStep(stepRecord("burst", seq)), { discard: true })
        const steps = yield* store.listSteps("burst")
        assert.strictEqual(steps.length, 50_000)
        assert.deepStrictEqual(steps.map((s) => s.seq), range(50_000))
        const stats = yield* store.writerStats
        assert.strictEqual(stats.written, 50_000)
        assert.isAbove(stats.backpressureWaits, 0)
        assert.isAtLeast(stats.batches, 100)
      }).pipe(Effect.scoped, Effect.provide(freshLayer(newDatabase))), 120_000)


    it.live("a checkpoint row whose payload is broken is CheckpointError(Corrupt), never a defect", () =>
      Effect.gen(function*() {
        const { runId, checkpointId } = yield* withRun("corrupt")(Effect.gen(function*() {
          const run = yield* RunContext
          yield* Effect.succeed(1).pipe(step("one"))
          const checkpoint = yield* run.checkpoint("first")
          return { runId: run.runId, checkpointId: checkpoint.id }
        }))
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE multirun_checkpoints SET payload = ${"{\"id\": broken"} WHERE id = ${checkpointId}`
        const client = yield* MultiRunClient
        const viaGet = yield* Effect.flip(client.getCheckpoint(checkpointId))
        assert.strictEqual(viaGet._tag, "CheckpointError")
        assert.strictEqual(viaGet._tag === "CheckpointError" && viaGet.reason, "Corrupt")
        assert.strictEqual(viaGet._tag === "CheckpointError" && viaGet.checkpointId, checkpointId)
        const viaList = yield* Effect.flip(client.listCheckpoints(runId))
        assert.strictEqual(viaList._tag === "CheckpointError" && viaList.reason, "Corrupt")
        const viaResume = yield* Effect.flip(withRun({ name: "corrupt", resume: { runId, latest: true } })(Effect.void))
        assert.strictEqual(viaResume._tag === "CheckpointError" && viaResume.reason, "Corrupt")
        // valid JSON that is not a checkpoint: core's decoding reports it the same way
        yield* sql`UPDATE multirun_checkpoints SET payload = ${"{\"id\": 1}"} WHERE id = ${checkpointId}`
        const viaService = yield* Effect.flip(Effect.flatMap(Checkpoints, (c) => c.get(checkpointId)))
        assert.strictEqual(viaService._tag === "CheckpointError" && viaService.reason, "Corrupt")
      }).pipe(Effect.provide(freshLayer(newDatabase))))

    it.live("two writers resuming one run: the second checkpoint of a version is CheckpointError(Conflict)", () =>
      Effect.gen(function*() {
        const database = yield* newDatabase
        const first = yield* Layer.build(database.open())
        const second = yield* Layer.build(database.open())
        const started = yield* Deferred.make<string>()
        const resumed = yield* Deferred.make<void>()
        const writerA = yield* withRun("shared")(Effect.gen(function*() {
          const run = yield* RunContext
          yield* Effect.succeed(1).pipe(step("a"))
          yield* run.checkpoint("a-1")
          yield* Deferred.succeed(started, run.runId)
          yield* Deferred.await(resumed)
          return yield* run.checkpoint("a-2")
        })).pipe(Effect.provide(first), Effect.fork)
        const runId = yield* Deferred.await(started)
        const conflict = yield* withRun({ name: "shared", resume: { runId, latest: true } })(Effect.gen(function*() {
          const run = yield* RunContext
          yield* Deferred.succeed(resumed, undefined)
          const saved = yield* Fiber.join(writerA)
          assert.strictEqual(saved.version, 2)
          return yield* Effect.flip(run.checkpoint("b-1"))
        })).pipe(Effect.provide(second))
        assert.strictEqual(conflict._tag, "CheckpointError")
        if (conflict._tag !== "CheckpointError") return
        assert.strictEqual(conflict.reason, "Conflict")
        assert.strictEqual(conflict.runId, runId)
        assert.include(conflict.detail, "already saved by another writer")
        const versions = yield* Effect.flatMap(MultiRunClient, (c) => c.listCheckpoints(runId)).pipe(
          Effect.provide(first)
        )
        assert.deepStrictEqual(versions.map((c) => c.name), ["a-1", "a-2"])
      }).pipe(Effect.scoped))

    it.live("a database of a newer multirun schema is refused with StoreError(NewerSchema)", () =>
      Effect.gen(function*() {
        const database = yield* newDatabase
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`UPDATE multirun_meta SET value = '99' WHERE key = 'schema_version'`).pipe(Effect.provide(database.open()))
        const error = yield* Effect.flip(Layer.build(database.open()))
        assert.strictEqual(error.reason, "NewerSchema")
        assert.include(error.message, "version 99")
        assert.include(error.message, "newer multirun")
      }).pipe(Effect.scoped))

    it.scopedLive("stores are scoped to a project and keep data across restarts", () =>
      Effect.gen(function*() {
        const database = yield* newDatabase
        const runId = yield* withRun("mine")(Effect.flatMap(RunContext, (run) => Effect.succeed(run.runId))).pipe(
          Effect.provide(database.open({ project: "alpha" }))
        )
        const [alpha, beta] = yield* Effect.all([
          Effect.flatMap(MultiRunClient, (c) => Effect.all([c.getRun(runId), c.listRuns()])).pipe(
            Effect.provide(database.open({ project: "alpha" }))
          ),
          Effect.flatMap(MultiRunClient, (c) => Effect.all([c.getRun(runId), c.listRuns()])).pipe(
            Effect.provide(database.open({ project: "beta" }))
          )
        ])
        assert.strictEqual(Option.getOrThrow(alpha[0]).status, "completed")
        assert.strictEqual(alpha[1].length, 1)
        assert.isTrue(Option.isNone(beta[0]))
        assert.strictEqual(beta[1].length, 0)
      }))

    it.scopedLive("ingest writes a batch once per batch id, in the batch's project", () =>
      Effect.gen(function*() {
        const database = yield* newDatabase
        const layer = database.open({ project: "tenant" })
        const steps = range(3).map((seq) => stepRecord("ingested", seq))
        const batch = new Event.Batch({
          batchId: "batch-1",
          events: steps.map((s) => new Event.StepWritten({ eventId: `e-${s.seq}`, step: s }))
        })
        const again = new Event.Batch({
          batchId: "batch-1",
          events: [new Event.StepWritten({ eventId: "e-9", step: stepRecord("ingested", 9) })]
        })
        const [first, second, other] = yield* Effect.all([
          SqlStore.ingest("tenant", batch),
          SqlStore.ingest("tenant", again),
          SqlStore.ingest("other", again)
        ]).pipe(Effect.provide(layer))
        assert.deepStrictEqual(first, { stored: 3, duplicate: false })
        assert.deepStrictEqual(second, { stored: 0, duplicate: true })
        assert.deepStrictEqual(other, { stored: 1, duplicate: false })
        const stored = yield* Effect.flatMap(MultiRunClient, (c) => c.listSteps("ingested")).pipe(Effect.provide(layer))
        assert.deepStrictEqual(stored.map((s) => s.seq), [0, 1, 2])
      }))

    it.live("API keys: a key verifies to its project, an unknown key to none, only its hash is stored", () =>
      Effect.gen(function*() {
        const key = yield* ApiKeys.create("tenant")
        const other = yield* ApiKeys.create("other")
        assert.match(key, /^mr_[A-Za-z0-9_-]{43}$/)
        assert.notStrictEqual(key, other)
        assert.deepStrictEqual(yield* ApiKeys.verify(key), Option.some("tenant"))
        assert.deepStrictEqual(yield* ApiKeys.verify(other), Option.some("other"))
        assert.deepStrictEqual(yield* ApiKeys.verify(`${key}x`), Option.none())
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ key_hash: string; created_at: unknown }>`SELECT key_hash, created_at FROM multirun_api_keys`
        assert.strictEqual(rows.length, 2)
        assert.isTrue(rows.every((row) => /^[0-9a-f]{64}$/.test(row.key_hash) && row.key_hash !== key))
        assert.isAbove(Number(rows[0]!.created_at), 1_600_000_000_000)
      }).pipe(Effect.provide(freshLayer(newDatabase))))
  })
