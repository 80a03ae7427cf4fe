/** Behaviours every SQL database must show, run on SQLite and PostgreSQL. */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import * as Event from "@multirun/core/Event"
import { uuidv7 } from "@multirun/core/Ids"
import type * as Step from "@multirun/core/Step"
import { assertNone, assertSome, runRecord, stepRecord as record } from "@multirun/core/test-utils"
import { Clock, Deferred, Effect, Fiber, Layer, Option, TestClock, TestServices } from "effect"
import type { Scope } from "effect"
import { createHash } from "node:crypto"
import { ProjectView, SqlStore } from "../src/index.js"
import { idBytes } from "../src/internal/stepRows.js"
import { ageLease, type Database, freshLayer } from "./helpers.js"

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
        // the run fails after its checkpoint, so it can be resumed
        let runId = ""
        let checkpointId = ""
        yield* Effect.exit(withRun("corrupt")(Effect.gen(function*() {
          const run = yield* RunContext
          yield* Effect.succeed(1).pipe(step("one"))
          const checkpoint = yield* run.checkpoint("first")
          runId = run.runId
          checkpointId = checkpoint.id
          return yield* Effect.fail("stop")
        })))
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

    it.live("two stores over one database: a resume while the owner lives is RunError(Locked); the owner goes on", () =>
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
        let executed = 0
        const locked = yield* withRun({ name: "shared", resume: { runId, latest: true } })(
          Effect.sync(() => ++executed).pipe(step("b"))
        ).pipe(Effect.provide(second), Effect.flip)
        yield* Deferred.succeed(resumed, undefined)
        assert.strictEqual(locked._tag, "RunError")
        if (locked._tag !== "RunError") return
        assert.strictEqual(locked.reason, "Locked")
        assert.strictEqual(locked.runId, runId)
        assert.strictEqual(executed, 0)
        assert.strictEqual((yield* Fiber.join(writerA)).version, 2)
        const versions = yield* Effect.flatMap(MultiRunClient, (c) => c.listCheckpoints(runId)).pipe(
          Effect.provide(second)
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

    it.live("writeEvents writes a batch of events into a project, the last event of an id winning", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const events = [
          ...range(3).map((seq) => Event.stepWritten(stepRecord("events", seq))),
          Event.stepWritten({ ...stepRecord("events", 1), output: JSON.stringify("again") })
        ]
        yield* sql.withTransaction(SqlStore.writeEvents("tenant", events))
        const stored = yield* Effect.flatMap(ProjectView.make("tenant"), (view) => view.listSteps("events"))
        assert.deepStrictEqual(stored.map((s) => s.seq), [0, 1, 2])
        assert.deepStrictEqual(stored.map((s) => s.output), [
          stepRecord("events", 0).output,
          JSON.stringify("again"),
          stepRecord("events", 2).output
        ])
        const other = yield* Effect.flatMap(ProjectView.make("other"), (view) => view.listSteps("events"))
        assert.deepStrictEqual(other, [])
      }).pipe(Effect.provide(freshLayer(newDatabase))))

    it.live("a step is stored compactly: a column per field, input and output unescaped, ids and hash as bytes", () =>
      Effect.gen(function*() {
        const client = yield* MultiRunClient
        const written: Step.Encoded = {
          ...stepRecord("columns", 0),
          input: JSON.stringify({ q: "say \"hi\" \\ ünïcødé" }),
          output: JSON.stringify(["a\nb", null])
        }
        const failed: Step.Encoded = { ...stepRecord("columns", 1), output: null, status: "failed" }
        const runId = uuidv7.next(1_700_000_000_000)
        const uuids: Step.Encoded = {
          ...stepRecord(runId, 0),
          id: uuidv7.next(1_700_000_000_000),
          agentId: uuidv7.next(1_700_000_000_000),
          inputHash: createHash("sha256").update("x").digest("hex"),
          error: { tag: null, message: "partial" },
          inputTokens: 1,
          model: null,
          replayed: true
        }
        yield* client.writeStep(written)
        yield* client.writeStep(failed)
        yield* client.writeStep(uuids)
        assert.deepStrictEqual(yield* client.listSteps("columns"), [written, failed])
        assert.deepStrictEqual(yield* client.listSteps(runId), [uuids])
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<Record<string, unknown>>`
          SELECT * FROM multirun_steps WHERE run_id = ${idBytes("columns")} ORDER BY seq`
        assert.deepStrictEqual(rows.map((row) => [row.input, row.output]), [
          [written.input, written.output],
          [failed.input, null]
        ])
        assert.notInclude(Object.keys(rows[0]!), "record")
        const [row] = yield* sql<{ id: Uint8Array; run_id: Uint8Array; agent_id: Uint8Array; input_hash: Uint8Array }>`
          SELECT id, run_id, agent_id, input_hash FROM multirun_steps WHERE run_id = ${idBytes(runId)}`
        assert.deepStrictEqual([row!.id.length, row!.run_id.length, row!.agent_id.length, row!.input_hash.length], [
          16,
          16,
          16,
          32
        ])
      }).pipe(Effect.provide(freshLayer(newDatabase))))

    it.scopedLive("a project view reads one project straight from the database, saves checkpoints, and writes nothing else", () =>
      Effect.gen(function*() {
        const database = yield* newDatabase
        const { checkpointId, runId } = yield* withRun("viewed")(Effect.gen(function*() {
          const run = yield* RunContext
          yield* Effect.succeed(1).pipe(step("one", { input: { n: 1 } }))
          yield* run.setState("phase", "one")
          const checkpoint = yield* run.checkpoint("first")
          yield* Effect.succeed(2).pipe(step("two", { input: { n: 2 } }))
          return { checkpointId: checkpoint.id, runId: run.runId }
        })).pipe(Effect.provide(database.open({ project: "alpha" })))
        const [expected, seen, unseen] = yield* Effect.all([
          Effect.flatMap(MultiRunClient, (c) =>
            Effect.all([c.getRun(runId), c.listAgents(runId), c.listSteps(runId), c.listCheckpoints(runId)])).pipe(
              Effect.provide(database.open({ project: "alpha" }))
            ),
          Effect.flatMap(ProjectView.make("alpha"), (view) =>
            Effect.all([view.getRun(runId), view.listAgents(runId), view.listSteps(runId), view.listCheckpoints(runId)])),
          Effect.flatMap(ProjectView.make("beta"), (view) =>
            Effect.all([view.getRun(runId), view.listAgents(runId), view.listSteps(runId), view.listCheckpoints(runId)]))
        ]).pipe(Effect.provide(database.open()))
        assert.deepStrictEqual(seen, expected)
        // the runs compared by value: `deepStrictEqual` does not tell `Some` from `None`
        assertSome(seen[0], Option.getOrThrow(expected[0]))
        assert.strictEqual(seen[2].length, 2)
        assertNone(unseen[0])
        assert.deepStrictEqual(unseen.slice(1), [[], [], []])

        const [refused, conflict, diff] = yield* Effect.gen(function*() {
          const view = yield* MultiRunClient
          const refused = yield* Effect.flip(view.writeStep(stepRecord(runId, 9)))
          const first = Option.getOrThrow(yield* view.getCheckpoint(checkpointId))
          const conflict = yield* Effect.flip(view.saveCheckpoint({ ...first, id: "other-id" }))
          yield* view.saveCheckpoint({ ...first, id: "second", name: "second", version: 2, covered: [[0, 2]] })
          const diff = yield* Effect.flatMap(Checkpoints, (c) => c.diff(checkpointId, "second"))
          return [refused, conflict, diff] as const
        }).pipe(Effect.provide(ProjectView.layer("alpha")), Effect.provide(database.open()))
        assert.strictEqual(refused._tag, "BackendError")
        assert.include(refused.message, "read-only")
        assert.strictEqual(conflict._tag === "CheckpointError" && conflict.reason, "Conflict")
        assert.deepStrictEqual(diff.steps.map((s) => s.name), ["two"])
        const steps = yield* Effect.flatMap(ProjectView.make("alpha"), (view) => view.listSteps(runId)).pipe(
          Effect.provide(database.open())
        )
        assert.strictEqual(steps.length, 2)
      }))

    it.scoped("a stalled run is judged on the database's clock, not on the reader's Clock", () =>
      Effect.gen(function*() {
        const store = yield* Layer.build((yield* newDatabase).open())
        const client = yield* Effect.provide(MultiRunClient, store)
        const now = yield* TestServices.provideLive(Clock.currentTimeMillis)
        yield* client.writeRun(runRecord("by-db-clock", { name: "gone" }))
        yield* client.writeRun(runRecord("alive-by-db-clock", { name: "alive" }))
        yield* client.flush
        // the reader's clock (TestClock, at 0) says both leases hold; the database's says one expired
        const gone = yield* client.acquireLease({ runId: "by-db-clock", owner: "gone", ttlMs: 30_000 })
        yield* client.acquireLease({ runId: "alive-by-db-clock", owner: "alive", ttlMs: 60_000 })
        yield* Effect.provide(ageLease("by-db-clock", 60_000), store)
        assert.deepStrictEqual(Option.getOrThrow(yield* client.getRun("by-db-clock")).stalled, {
          owner: "gone",
          lastSeenAt: gone.acquiredAt - 60_000
        })
        // and the reader's clock a day ahead does not make the other one stalled
        yield* TestClock.setTime(now + 86_400_000)
        assert.isUndefined(Option.getOrThrow(yield* client.getRun("alive-by-db-clock")).stalled)
        assert.deepStrictEqual((yield* client.listRuns({ status: "stalled" })).map((run) => run.name), ["gone"])
      }))
  })
