/**
 * The server's retention: a per-project policy applied on a schedule (driven by `TestClock`),
 * and a real server with `retention` removing finished runs and surplus checkpoints while a
 * failed run still resumes through `RemoteLayer` from its latest checkpoint.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import * as Event from "@multirun/core/Event"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { describePg, eventually, runRecord, stepRecord } from "@multirun/core/test-utils"
import { SqlStore } from "@multirun/sql"
import { Effect, Layer, TestClock } from "effect"
import * as Database from "../src/Database.js"
import * as RetentionJob from "../src/RetentionJob.js"
import { memoryRemote, pgDatabase, sqliteDatabase, start } from "./TestServer.js"

const day = 86_400_000

const runsOf = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ project: string; id: string }>`SELECT project, id FROM multirun_runs ORDER BY project, id`,
    (rows) => rows.map((row) => `${row.project}/${row.id}`)
  )

/** Three projects with one completed run each (ended at time 0), and a policy for two of them. */
const seeded = (newDatabase: typeof sqliteDatabase) =>
  Effect.gen(function*() {
    const database = yield* newDatabase
    const sql = Layer.succeedContext(yield* Layer.build(Database.layer(database)))
    for (const [project, id] of [["short", "a"], ["long", "b"], ["kept", "c"]] as const) {
      yield* SqlStore.writeEvents(project, [
        Event.runWritten(runRecord(id, { status: "completed", startedAt: 0, endedAt: 0 })),
        Event.stepWritten(stepRecord(`${id}-step`, id, `${id}-agent`, 0))
      ]).pipe(Effect.provide(sql), Effect.orDie)
    }
    const options: RetentionJob.Options = {
      policy: (project) =>
        project === "short"
          ? { olderThan: { completed: "30 days" } }
          : project === "long"
          ? { olderThan: { completed: "90 days" } }
          : undefined,
      every: "1 day"
    }
    const remaining = Effect.provide(Effect.flatMap(SqlClient.SqlClient, runsOf), sql)
    const steps = Effect.provide(
      Effect.flatMap(SqlClient.SqlClient, (s) => s<{ n: unknown }>`SELECT COUNT(*) AS n FROM multirun_steps`),
      sql
    ).pipe(Effect.map(([row]) => Number(row!.n)))
    return { sql, options, remaining, steps }
  })

describe("the server's retention", () => {
  it.scoped("SQLite: applies each project's policy at start and then on its schedule", () =>
    Effect.gen(function*() {
      const { options, remaining, sql, steps } = yield* seeded(sqliteDatabase)
      yield* Layer.build(Layer.provide(RetentionJob.layer(options), sql))
      yield* TestClock.adjust(29 * day)
      assert.deepStrictEqual(yield* remaining, ["kept/c", "long/b", "short/a"])
      yield* TestClock.adjust(2 * day)
      assert.deepStrictEqual(yield* remaining, ["kept/c", "long/b"])
      yield* TestClock.adjust(60 * day)
      assert.deepStrictEqual(yield* remaining, ["kept/c"])
      assert.strictEqual(yield* steps, 1)
    }))

  it.scopedLive("a served database loses its finished runs and old checkpoints; a failed run still resumes", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase
      const server = yield* start(database, {
        retention: { policy: { olderThan: { completed: "0 millis" }, keepLast: 1 }, every: "100 millis" }
      })
      const remote = memoryRemote({ url: server.url, apiKey: server.apiKey })
      const executed: Array<string> = []
      const counted = (name: string) =>
        Effect.sync(() => void executed.push(name)).pipe(step(name, { input: { name } }))
      let failedRun = ""
      yield* Effect.gen(function*() {
        yield* withRun("done")(counted("d1"))
        yield* withRun("stopped")(Effect.gen(function*() {
          const run = yield* RunContext
          failedRun = run.runId
          yield* counted("s1")
          yield* run.checkpoint("one")
          yield* counted("s2")
          yield* run.checkpoint("two")
          return yield* Effect.fail("stop")
        })).pipe(Effect.ignore)
      }).pipe(Effect.provide(remote))
      yield* eventually(
        "the completed run and the older checkpoint are removed",
        Effect.map(
          Effect.all([runsOf(server.sql), server.sql`SELECT id FROM multirun_checkpoints`]),
          ([runs, checkpoints]) => runs.length === 1 && checkpoints.length === 1
        )
      )
      assert.deepStrictEqual(yield* runsOf(server.sql), [`test/${failedRun}`])
      executed.length = 0
      const resumed = yield* withRun({ name: "stopped", resume: { runId: failedRun, latest: true } })(
        Effect.gen(function*() {
          yield* counted("s1")
          yield* counted("s2")
          yield* counted("s3")
          return yield* Effect.flatMap(MultiRunClient, (client) => client.listCheckpoints(failedRun))
        })
      ).pipe(Effect.provide(remote))
      assert.deepStrictEqual(executed, ["s3"])
      assert.deepStrictEqual(resumed.map((c) => c.name), ["two"])
    }), 60_000)
})

describePg("the server's retention on PostgreSQL", () => {
  it.scoped("one pass applies each project's policy at the clock's time", () =>
    Effect.gen(function*() {
      const { options, remaining, sql, steps } = yield* seeded(pgDatabase)
      const pass = Effect.provide(RetentionJob.runOnce(options), sql)
      yield* TestClock.setTime(29 * day)
      assert.deepStrictEqual((yield* pass).map((r) => [r.project, r.runs.completed]), [["long", 0], ["short", 0]])
      yield* TestClock.setTime(31 * day)
      assert.deepStrictEqual((yield* pass).map((r) => [r.project, r.runs.completed, r.steps]), [["long", 0, 0], ["short", 1, 1]])
      assert.deepStrictEqual(yield* remaining, ["kept/c", "long/b"])
      yield* TestClock.setTime(91 * day)
      yield* pass
      assert.deepStrictEqual(yield* remaining, ["kept/c"])
      assert.strictEqual(yield* steps, 1)
    }))
})
