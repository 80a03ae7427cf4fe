/**
 * `UsageByDay` on SQLite and PostgreSQL: runs recorded on a test clock over several UTC days
 * (one run crossing midnight, one 40 days old, unknown costs, a replayed step record as 0.2
 * wrote them), then the 30-day report: each day's runs, steps, tokens and exact cost, unknown
 * costs counted and never 0, the most expensive runs and models, and another project's steps
 * left out.
 */
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import type { Usage } from "@multirun/core/StepContext"
import { describePg, stepRecord } from "@multirun/core/test-utils"
import { DateTime, Effect, Layer, TestClock } from "effect"
import type { Scope } from "effect"
import { UsageByDay } from "../src/index.js"
import { type Database, pgDatabase, sqliteDatabase } from "./helpers.js"

const day = UsageByDay.dayMillis
/** 2026-12-07T00:00:00Z, the test's "today". */
const today = Date.UTC(2026, 11, 7)

/** An LLM call that reports `usage`. */
const call = (name: string, usage: Usage) =>
  Effect.succeed(name).pipe(step(name, { kind: "llm_call", input: { name }, usage: () => usage }))

/** Runs `body` as the run `name` and returns its id. */
const runOf = <E>(name: string, body: Effect.Effect<unknown, E, RunContext>) =>
  Effect.flatMap(RunContext, (run) => Effect.as(body, run.runId)).pipe(withRun(name))

/** The spending: 40 days ago, two days ago across midnight, today (with unknown costs). */
const record = Effect.gen(function*() {
  yield* TestClock.setTime(today - 40 * day + 3_600_000)
  const old = yield* runOf("old", call("plan", { tokensUsed: 1_000, costUsd: 5, model: "m-a" }))
  yield* TestClock.setTime(today - day - 1_000)
  const night = yield* runOf("night", Effect.gen(function*() {
    yield* call("plan", { tokensUsed: 100, costUsd: 0.1, model: "m-a" })
    yield* TestClock.adjust(2_000) // past midnight
    yield* call("write", { tokensUsed: 200, costUsd: 0.2, model: "m-b" })
    yield* call("tool", { tokensUsed: 0 }).pipe(Effect.asVoid)
  }))
  yield* TestClock.setTime(today + 10 * 3_600_000)
  const mixed = yield* runOf("mixed", Effect.gen(function*() {
    yield* call("plan", { tokensUsed: 50, costUsd: null, model: "m-x" })
    yield* call("write", { tokensUsed: 70, costUsd: 0.7, model: "m-a" })
  }))
  const unpriced = yield* runOf("unpriced", call("plan", { tokensUsed: 30, costUsd: null, model: "m-x" }))
  // a replayed call's record as 0.2 wrote it: it cost nothing and is not counted
  const client = yield* MultiRunClient
  const [agent] = yield* client.listAgents(mixed)
  yield* client.writeStep(stepRecord("replayed-0", mixed, agent!.id, 99, {
    startedAt: today + 11 * 3_600_000,
    replayed: true,
    tokensUsed: 500,
    costUsd: 9
  }))
  yield* client.flush
  return { old, night, mixed, unpriced }
})

const suite = (name: string, newDatabase: Effect.Effect<Database, never, Scope.Scope>) =>
  describe(`${name}: usage by day`, () => {
    it.scoped("sums each UTC day of the last 30 by step start; unknown cost counted, never 0; top runs and models", () =>
      Effect.gen(function*() {
        const db = yield* newDatabase
        const store = yield* Layer.build(db.open())
        const ids = yield* Effect.provide(record, store)
        // another project of the same database spends too, on the same days
        const other = yield* Layer.build(db.open({ project: "other" }))
        yield* Effect.provide(
          Effect.zipRight(TestClock.setTime(today), runOf("elsewhere", call("plan", { tokensUsed: 9, costUsd: 9, model: "m-a" }))),
          other
        )
        yield* TestClock.setTime(today + 23 * 3_600_000)
        const report = yield* Effect.provide(UsageByDay.report("default"), store)

        assert.strictEqual(report.from, "2026-11-08")
        assert.strictEqual(report.to, "2026-12-07")
        assert.strictEqual(report.days.length, 30)
        assert.deepStrictEqual(report.days.map((d) => d.day).slice(-3), ["2026-12-05", "2026-12-06", "2026-12-07"])
        const [twoDaysAgo, yesterday, todays] = report.days.slice(-3)
        // the night run: one call before midnight, two after; the run counts on both days
        assert.deepStrictEqual(twoDaysAgo, { day: "2026-12-05", runs: 1, steps: 1, tokens: 100, costUsd: 0.1, unpricedSteps: 0 })
        assert.deepStrictEqual(yesterday, { day: "2026-12-06", runs: 1, steps: 2, tokens: 200, costUsd: 0.2, unpricedSteps: 0 })
        // today: two runs, three calls, one of them unpriced twice over (a known sum is a lower bound)
        assert.deepStrictEqual(todays, { day: "2026-12-07", runs: 2, steps: 3, tokens: 150, costUsd: 0.7, unpricedSteps: 2 })
        // days with nothing are zeros; the 40-day-old run is outside
        assert.isTrue(report.days.slice(0, -3).every((d) => d.steps === 0 && d.runs === 0 && d.costUsd === 0))
        // the window's total, summed in nano-dollars: exactly 1.0, not 0.1 + 0.2 + 0.7 in floats
        assert.deepStrictEqual(report.total, { runs: 3, steps: 6, tokens: 450, costUsd: 1, unpricedSteps: 2 })

        assert.deepStrictEqual(report.runs.map((r) => [r.name, r.costUsd, r.unpricedSteps]), [
          ["mixed", 0.7, 1],
          ["night", 0.3, 0],
          ["unpriced", null, 1]
        ])
        assert.strictEqual(report.runs[0]!.runId, ids.mixed)
        assert.deepStrictEqual(report.models.map((m) => [m.model, m.steps, m.tokens, m.costUsd, m.unpricedSteps]), [
          ["m-a", 2, 170, 0.8, 0],
          ["m-b", 1, 200, 0.2, 0],
          ["m-x", 2, 80, null, 2]
        ])

        // every project of the database, ordered
        const all = yield* Effect.provide(UsageByDay.reports(), store)
        assert.deepStrictEqual(all.map((r) => [r.project, r.total.steps, r.total.costUsd]), [["default", 6, 1], ["other", 1, 9]])
      }))

    it.scoped("a project with no steps in the window has 30 days of zeros and no top runs; `until` ends the window on another day", () =>
      Effect.gen(function*() {
        const db = yield* newDatabase
        const store = yield* Layer.build(db.open())
        yield* TestClock.setTime(today - 31 * day)
        yield* Effect.provide(runOf("long-ago", call("plan", { tokensUsed: 5, costUsd: 1 })), store)
        yield* TestClock.setTime(today)
        const report = yield* Effect.provide(UsageByDay.report("default"), store)
        assert.strictEqual(report.days.length, 30)
        assert.deepStrictEqual(report.total, { runs: 0, steps: 0, tokens: 0, costUsd: 0, unpricedSteps: 0 })
        assert.deepStrictEqual(report.runs, [])
        assert.deepStrictEqual(report.models, [])
        // ending the 30 days on the day of the old run finds it, whatever the clock says
        const then = yield* Effect.provide(UsageByDay.report("default", DateTime.unsafeMake(today - 31 * day)), store)
        assert.strictEqual(then.to, DateTime.formatIsoDateUtc(DateTime.unsafeMake(today - 31 * day)))
        assert.deepStrictEqual(then.total, { runs: 1, steps: 1, tokens: 5, costUsd: 1, unpricedSteps: 0 })
        assert.deepStrictEqual(then.runs.map((r) => r.name), ["long-ago"])
      }))
  })

suite("SQLite", sqliteDatabase)
describePg("PostgreSQL", () => suite("PostgreSQL", pgDatabase()))
