/**
 * Retention on SQLite and PostgreSQL: run TTLs by status (dry run, forks kept with their
 * parents, running runs never removed, resume after gc), checkpoint `keepLast` (a resumable run
 * and a fork of a pruned-around checkpoint still restore), and the usage report.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { agentRecord, describePg, runRecord, stepRecord, tempFile } from "@multirun/core/test-utils"
import { Clock, Effect, Either, Layer, Option, TestClock, TestServices } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { Migrations, Retention, SqliteLayer, SqlStore, StoreUsage } from "../src/index.js"
import { ageLease, type Database, pgDatabase, sqliteDatabase } from "./helpers.js"

const day = 86_400_000

/** A step that records each real execution in `executed`. */
const counted = (executed: Array<string>, name: string) =>
  Effect.sync(() => {
    executed.push(name)
    return `${name}-result`
  }).pipe(step(name, { input: { name } }))

/** Runs `body` as a run and returns its id (the run may fail: its id is still returned). */
const runOf = <E>(
  options: Parameters<typeof withRun>[0],
  body: Effect.Effect<unknown, E, RunContext>
): Effect.Effect<string, never, MultiRunClient> =>
  Effect.gen(function*() {
    let runId = ""
    yield* Effect.flatMap(RunContext, (run) => {
      runId = run.runId
      return body
    }).pipe(withRun(options), Effect.ignore)
    return runId
  })

/** A checkpoint taken in the current run; its id. */
const checkpoint = (name: string) => Effect.flatMap(RunContext, (run) => Effect.map(run.checkpoint(name), (c) => c.id))

/** How many run leases the store holds. */
const leaseCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_leases`, ([row]) => Number(row?.n)))

const statuses = (runs: ReadonlyArray<{ readonly name: string; readonly status: string }>) =>
  Object.fromEntries(runs.map((run) => [run.name, run.status]))

const suite = (name: string, newDatabase: Effect.Effect<Database, never, Scope.Scope>) =>
  describe(`${name}: retention`, () => {
    it.scoped("removes runs past their status's age with their records; keeps running runs and forked parents", () =>
      Effect.gen(function*() {
        const db = yield* newDatabase
        const store = yield* Layer.build(db.open())
        const provided = <A, E>(self: Effect.Effect<A, E, MultiRunClient | SqlClient.SqlClient>) =>
          Effect.provide(self, store)
        const executed: Array<string> = []
        // day 0: a completed run, a failed run, a completed parent with a checkpoint, a stuck running run
        yield* provided(runOf("old-done", Effect.all([counted(executed, "a"), counted(executed, "b"), checkpoint("c")])))
        yield* provided(runOf("old-failed", Effect.zipRight(counted(executed, "a"), Effect.fail("boom"))))
        let parentCheckpoint = ""
        yield* provided(runOf("parent", Effect.gen(function*() {
          yield* counted(executed, "p1")
          parentCheckpoint = yield* checkpoint("forked-here")
          yield* counted(executed, "p2")
        })))
        yield* provided(Effect.flatMap(MultiRunClient, (c) => c.writeRun(runRecord("stuck", { name: "stuck", startedAt: 0 }))))
        // day 20: a fork of the parent, and a failed run to resume later
        yield* TestClock.adjust(20 * day)
        const fork = yield* provided(runOf({ name: "fork", forkFrom: parentCheckpoint }, Effect.gen(function*() {
          yield* counted(executed, "p1")
          yield* checkpoint("fork-1")
          yield* Effect.fail("stop")
        })))
        const resumable = yield* provided(runOf("resumable", Effect.gen(function*() {
          yield* counted(executed, "r1")
          yield* checkpoint("r")
          yield* Effect.fail("stop")
        })))
        yield* TestClock.adjust(15 * day)

        const policy: Retention.Policy = { olderThan: { completed: "30 days", failed: "90 days" } }
        const dry = yield* provided(Retention.apply(policy, { dryRun: true }))
        const wet = yield* provided(Retention.apply(policy, { batchSize: 1 }))
        assert.deepStrictEqual(dry, wet)
        assert.strictEqual(wet.length, 1)
        const [removed] = wet
        assert.deepStrictEqual(
          { ...removed!, bytes: 0 },
          {
            project: "default",
            runs: { completed: 1, failed: 0, interrupted: 0, stalled: 0 },
            agents: 1,
            steps: 2,
            checkpoints: 1,
            bytes: 0
          }
        )
        assert.isAbove(removed!.bytes, 500)
        const left = yield* provided(Effect.flatMap(MultiRunClient, (c) => c.listRuns()))
        assert.deepStrictEqual(statuses(left), {
          "old-failed": "failed",
          parent: "completed",
          stuck: "running",
          fork: "failed",
          resumable: "failed"
        })

        // both runs resume after the gc: recorded steps replay, nothing executes twice
        executed.length = 0
        yield* provided(runOf({ name: "resumable", resume: { runId: resumable, latest: true } }, counted(executed, "r1")))
        yield* provided(runOf({ name: "fork", resume: { runId: fork, latest: true } }, counted(executed, "p1")))
        assert.deepStrictEqual(executed, [])

        // day 200: every finished run goes, the fork and its parent together; the running run stays
        assert.strictEqual(yield* provided(leaseCount), 4)
        yield* TestClock.adjust(165 * day)
        const [late] = yield* provided(Retention.apply(policy, { batchSize: 2 }))
        assert.deepStrictEqual(late!.runs, { completed: 3, failed: 1, interrupted: 0, stalled: 0 })
        const after = yield* provided(Effect.flatMap(MultiRunClient, (c) => c.listRuns()))
        assert.deepStrictEqual(statuses(after), { stuck: "running" })
        // the removed runs' leases went with them (the stuck run was written without one)
        assert.deepStrictEqual(yield* provided(leaseCount), 0)
        const [usage] = yield* provided(StoreUsage.usage())
        assert.deepStrictEqual({ ...usage!, bytes: 0 }, {
          project: "default",
          runs: { running: 1, completed: 0, failed: 0, interrupted: 0 },
          agents: 0,
          steps: 0,
          checkpoints: 0,
          bytes: 0
        })
      }))

    it.scoped("removes stalled runs only when the policy names them, by the age of their owner's last sighting", () =>
      Effect.gen(function*() {
        const db = yield* newDatabase
        const store = yield* Layer.build(db.open())
        const provided = <A, E>(self: Effect.Effect<A, E, MultiRunClient | SqlClient.SqlClient>) =>
          Effect.provide(self, store)
        // stalled is judged on the database's clock: the test clock follows it
        const now = yield* TestServices.provideLive(Clock.currentTimeMillis)
        yield* TestClock.setTime(now)
        // owners last seen 10 days ago and an hour ago; an owner alive now; a run written before leases; a fork
        const seen = { "gone-long": now - 10 * day, "gone-recent": now - 3_600_000, alive: now }
        yield* provided(Effect.gen(function*() {
          const client = yield* MultiRunClient
          for (const [name, at] of Object.entries(seen)) {
            yield* client.writeRun(runRecord(name, { name, startedAt: at - 1000 }))
            yield* client.writeAgent(agentRecord(`${name}-agent`, name))
            yield* client.writeStep(stepRecord(`${name}-step`, name, `${name}-agent`, 0))
          }
          yield* client.writeRun(runRecord("unleased", { name: "unleased", startedAt: now - 20 * day }))
          yield* client.flush
          for (const [name, at] of Object.entries(seen)) {
            const lease = yield* client.acquireLease({ runId: name, owner: `owner of ${name}`, ttlMs: 30_000 })
            yield* ageLease(name, lease.acquiredAt - at)
          }
        }))
        const stalledOnly: Retention.Policy = { olderThan: { stalled: "7 days" } }
        const [finishedOnly] = yield* provided(Retention.apply({ olderThan: { completed: "1 day", failed: "1 day" } }))
        assert.deepStrictEqual(finishedOnly!.runs, { completed: 0, failed: 0, interrupted: 0, stalled: 0 })
        const [dry] = yield* provided(Retention.apply(stalledOnly, { dryRun: true }))
        const [wet] = yield* provided(Retention.apply(stalledOnly))
        assert.deepStrictEqual(dry, wet)
        assert.deepStrictEqual([wet!.runs, wet!.agents, wet!.steps], [
          { completed: 0, failed: 0, interrupted: 0, stalled: 1 },
          1,
          1
        ])
        const left = yield* provided(Effect.flatMap(MultiRunClient, (c) => c.listRuns()))
        assert.deepStrictEqual(left.map((run) => [run.name, run.stalled?.lastSeenAt ?? null]), [
          ["alive", null],
          ["gone-recent", seen["gone-recent"]],
          ["unleased", null]
        ])
        assert.strictEqual(yield* provided(leaseCount), 2)
        // resumed meanwhile: its new owner is alive, and it stays
        yield* provided(Effect.flatMap(MultiRunClient, (c) =>
          c.acquireLease({ runId: "gone-recent", owner: "rescuer", ttlMs: 30_000 })))
        const [none] = yield* provided(Retention.apply({ olderThan: { stalled: "1 minute" } }))
        assert.strictEqual(none!.runs.stalled, 0)
      }))

    it.scoped("keepLast keeps a run resumable and never removes a checkpoint another run was forked from", () =>
      Effect.gen(function*() {
        const db = yield* newDatabase
        const store = yield* Layer.build(db.open({ keepLast: 2 }))
        const provided = <A, E>(self: Effect.Effect<A, E, MultiRunClient | SqlClient.SqlClient>) =>
          Effect.provide(self, store)
        const executed: Array<string> = []
        let first = ""
        const runId = yield* provided(runOf("long", Effect.gen(function*() {
          yield* counted(executed, "s1")
          first = yield* checkpoint("c1")
          yield* counted(executed, "s2")
          yield* checkpoint("c2")
          yield* Effect.fail("stop")
        })))
        const fork = yield* provided(runOf({ name: "fork", forkFrom: first }, Effect.gen(function*() {
          yield* counted(executed, "s1")
          yield* counted(executed, "f1")
          yield* checkpoint("f")
          yield* Effect.fail("stop")
        })))
        const versions = () =>
          provided(Effect.flatMap(MultiRunClient, (c) => c.listCheckpoints(runId))).pipe(
            Effect.map((all) => all.map((c) => `${c.name}:v${c.version}`))
          )
        yield* provided(runOf({ name: "long", resume: { runId, latest: true } }, Effect.gen(function*() {
          yield* counted(executed, "s1")
          yield* counted(executed, "s2")
          yield* counted(executed, "s3")
          yield* checkpoint("c3")
          yield* counted(executed, "s4")
          yield* checkpoint("c4")
          yield* Effect.fail("stop")
        })))
        // c2 is gone; c1 stays because the fork starts from it
        assert.deepStrictEqual(yield* versions(), ["c1:v1", "c3:v3", "c4:v4"])
        assert.deepStrictEqual(executed, ["s1", "s2", "f1", "s3", "s4"])

        executed.length = 0
        yield* provided(runOf({ name: "long", resume: { runId, latest: true } }, Effect.gen(function*() {
          for (const name of ["s1", "s2", "s3", "s4", "s5"]) yield* counted(executed, name)
          yield* checkpoint("c5")
        })))
        yield* provided(runOf({ name: "fork", resume: { runId: fork, latest: true } }, Effect.gen(function*() {
          for (const name of ["s1", "f1", "f2"]) yield* counted(executed, name)
        })))
        assert.deepStrictEqual(executed, ["s5", "f2"])
        assert.deepStrictEqual(yield* versions(), ["c1:v1", "c4:v4", "c5:v5"])

        // the policy's keepLast prunes every run of the project the same way
        const [pruned] = yield* provided(Retention.apply({ keepLast: 1 }))
        assert.strictEqual(pruned!.checkpoints, 1)
        assert.deepStrictEqual(yield* versions(), ["c1:v1", "c5:v5"])
      }))
  })

suite("SQLite", sqliteDatabase)

/** The size of a SQLite file once its write-ahead log is written back into it. */
const fileSize = (filename: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA wal_checkpoint(TRUNCATE)`).pipe(
    Effect.map(() => fs.statSync(filename).size)
  )

describe("SQLite space", () => {
  it.scopedLive("a file of the previous version turns to incremental vacuum at open, and gc gives the space back", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      const now = yield* Clock.currentTimeMillis
      const text = "lorem ipsum dolor sit amet ".repeat(20)
      // written as the previous version did: the same migrations and store, no vacuum mode
      yield* Effect.gen(function*() {
        yield* Migrations.run(filename)
        const store = yield* SqlStore.make()
        for (let r = 0; r < 10; r++) {
          const runId = `run-${r}`
          const endedAt = r === 0 ? now : now - 40 * day
          yield* store.writeRun(runRecord(runId, { status: "completed", startedAt: endedAt - 1000, endedAt }))
          yield* store.writeAgent(agentRecord(`${runId}-agent`, runId, { status: "completed" }))
          for (let seq = 0; seq < 1_000; seq++) {
            yield* store.writeStep(stepRecord(`${runId}-${seq}`, runId, `${runId}-agent`, seq, {
              input: JSON.stringify({ prompt: `${seq} ${text}` }),
              output: JSON.stringify({ answer: `${seq} ${text}` })
            }))
          }
        }
        yield* store.flush
        const [mode] = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ auto_vacuum: number }>`PRAGMA auto_vacuum`)
        assert.strictEqual(Number(mode!.auto_vacuum), 0)
      }).pipe(Effect.scoped, Effect.provide(SqliteClient.layer({ filename })))

      const { after, before, removed } = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [mode] = yield* sql<{ auto_vacuum: number }>`PRAGMA auto_vacuum`
        assert.strictEqual(Number(mode!.auto_vacuum), 2)
        assert.strictEqual((yield* Effect.flatMap(MultiRunClient, (c) => c.listSteps("run-3"))).length, 1_000)
        const before = yield* fileSize(filename)
        const [removed] = yield* Retention.apply({ olderThan: { completed: "30 days" } })
        yield* Retention.reclaimSpace
        return { before, after: yield* fileSize(filename), removed: removed! }
      }).pipe(Effect.provide(SqliteLayer({ filename })))
      assert.deepStrictEqual([removed.runs.completed, removed.agents, removed.steps], [9, 9, 9_000])
      console.log(`10,000 steps, 9,000 removed: ${before} bytes before, ${after} after`)
      assert.isBelow(after, before * 0.2)
    }), 60_000)
})

describePg("PostgreSQL", () => suite("PostgreSQL", pgDatabase()))

describe("policies", () => {
  it("parse from the --retain form and refuse what they cannot mean", () => {
    assert.deepStrictEqual(
      Retention.parsePolicy("completed=30d, failed=90d,keepLast=5"),
      Retention.parsePolicy("failed=90d,completed=30d,keepLast=5")
    )
    const policy = Retention.parsePolicy("completed=30d,interrupted=12h,keepLast=3")
    assert.isTrue(policy._tag === "Right")
    if (policy._tag === "Right") {
      assert.deepStrictEqual(policy.right.keepLast, 3)
      assert.deepStrictEqual(Object.keys(policy.right.olderThan ?? {}), ["completed", "interrupted"])
    }
    assert.strictEqual(
      Option.getOrNull(Either.getLeft(Retention.parsePolicy("running=1d"))),
      "\"running=1d\": expected completed=AGE, failed=AGE, interrupted=AGE, stalled=AGE or keepLast=N " +
        "(live running runs are never removed)"
    )
    const stalled = Retention.parsePolicy("stalled=7d")
    assert.deepStrictEqual(Either.map(stalled, (p) => Object.keys(p.olderThan ?? {})), Either.right(["stalled"]))
    assert.strictEqual(Retention.parsePolicy("keepLast=0")._tag, "Left")
    assert.strictEqual(Retention.parseAge("30 days")._tag, "Left")
  })
})
