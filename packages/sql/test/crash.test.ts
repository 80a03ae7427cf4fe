/**
 * Crash and resume across processes: a child process runs a deterministic 1,000-step run with a
 * checkpoint every 100 steps and is killed with SIGKILL at a random moment; a second process
 * resumes the run from its latest checkpoint and finishes it.
 */
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { bundleFixture, describePg, spawnChild, tempDir } from "@multirun/core/test-utils"
import { Effect, Option } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { type Database, pgDatabase, sqliteDatabase } from "./helpers.js"

const totalSteps = 1000

/** The fixture, bundled once per test (its directory goes with the test's scope). */
const bundle = bundleFixture(path.join(import.meta.dirname, "fixtures", "crash-run.ts"), {
  external: ["better-sqlite3", "pg-native"]
})

/** Where the bundled child finds better-sqlite3 (a native addon, left out of the bundle). */
const nodePath = path.dirname(path.dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json")))

/** What a child process did. */
interface ChildOutcome {
  readonly runId: string | undefined
  readonly result: unknown
  readonly killed: boolean
  /** Milliseconds from `RUN <id>` to the child's exit. */
  readonly runMs: number
  readonly code: number | null
  readonly stderr: string
}

/**
 * Runs the bundled fixture to its end. With `killAfterMs`, the child is killed with SIGKILL that
 * long after it printed `RUN <id>` (the moment of the kill is what the test is about).
 */
const runFixture = (
  script: string,
  env: Record<string, string>,
  killAfterMs?: number
): Effect.Effect<ChildOutcome, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* spawnChild(process.execPath, [script], { env: { ...env, NODE_PATH: nodePath } })
    const started = yield* Effect.either(child.line((line) => line.startsWith("RUN ")))
    const runStarted = performance.now()
    if (killAfterMs !== undefined && started._tag === "Right") {
      yield* Effect.raceFirst(
        Effect.asVoid(child.exit),
        Effect.zipRight(Effect.sleep(killAfterMs), child.kill("SIGKILL"))
      )
    }
    const exit = yield* child.exit
    const resultLine = exit.stdout.find((line) => line.startsWith("RESULT "))
    return {
      runId: started._tag === "Right" ? started.right.slice(4) : undefined,
      result: resultLine === undefined ? undefined : JSON.parse(resultLine.slice(7)),
      killed: exit.signal === "SIGKILL",
      runMs: performance.now() - runStarted,
      code: exit.code,
      stderr: exit.stderr
    }
  })

/** How many times each step number was executed, from a side file. */
const executions = (file: string): Array<number> => {
  const counts = new Array<number>(totalSteps).fill(0)
  if (!fs.existsSync(file)) return counts
  for (const line of fs.readFileSync(file, "utf8").split("\n")) if (line !== "") counts[Number(line)]!++
  return counts
}

const readRun = (database: Database, runId: string) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient
    return {
      run: yield* client.getRun(runId),
      steps: yield* client.listSteps(runId),
      checkpoints: yield* client.listCheckpoints(runId)
    }
  }).pipe(Effect.provide(database.open()))

interface Baseline {
  readonly result: unknown
  readonly run: { readonly result: string | null; readonly stepCount: number; readonly tokensUsed: number; readonly costUsd: number | null }
  readonly runMs: number
}

/**
 * One round on a new database: a child killed after `killAfterMs`, then a second child that
 * resumes the run. Checks the round against the uninterrupted baseline: same result, exact
 * totals, covered steps stored and executed exactly once. Returns the number of checkpoints
 * stored at the kill, or the run's duration when the child finished before it was killed.
 */
const round = (script: string, newDatabase: Effect.Effect<Database, never, Scope.Scope>, baseline: Baseline, killAfterMs: number) =>
  Effect.gen(function*() {
    const database = yield* newDatabase
    const dir = yield* tempDir("side")
    const sides = [path.join(dir, "side-1"), path.join(dir, "side-2")] as const
    const first = yield* runFixture(script, { ...database.env, MR_SIDE: sides[0], MR_PACE: "5" }, killAfterMs)
    if (!first.killed) {
      assert.strictEqual(first.code, 0, first.stderr)
      return { _tag: "Finished", runMs: first.runMs } as const
    }
    const runId = first.runId!
    const afterKill = yield* readRun(database, runId)
    // killed after its run completed: nothing to resume (a completed run is refused)
    if (Option.getOrThrow(afterKill.run).status === "completed") return { _tag: "Finished", runMs: first.runMs } as const
    const latest = afterKill.checkpoints.at(-1)
    const covered = new Set<number>()
    if (latest !== undefined) {
      const stored = new Map(afterKill.steps.map((step) => [step.seq, step]))
      for (const [from, to] of latest.covered) {
        for (let seq = from; seq < to; seq++) {
          const step = stored.get(seq)
          assert.isDefined(step, `step ${seq} covered by checkpoint ${latest.version} is not in the store`)
          assert.strictEqual(step!.status, "completed")
          const input = JSON.parse(step!.input) as { agent: number; i: number }
          covered.add(input.agent * 250 + input.i)
        }
      }
      assert.strictEqual(covered.size, latest.stepCount)
    }

    const second = yield* runFixture(script, { ...database.env, MR_SIDE: sides[1], MR_RESUME: runId })
    assert.strictEqual(second.code, 0, second.stderr)
    assert.deepStrictEqual(second.result, baseline.result)

    const final = yield* readRun(database, runId)
    const run = Option.getOrThrow(final.run)
    assert.strictEqual(run.status, "completed")
    assert.strictEqual(run.result, baseline.run.result)
    // totals are what was executed over both processes: the uninterrupted run's, plus the steps
    // that ran after the checkpoint in the killed process and ran again
    const executed = final.steps.filter((step) => !step.replayed)
    assert.strictEqual(run.stepCount, executed.length)
    assert.strictEqual(run.tokensUsed, executed.reduce((sum, step) => sum + step.tokensUsed, 0))
    assert.strictEqual(
      Math.round((run.costUsd ?? 0) * 1e9),
      executed.reduce((sum, step) => sum + Math.round((step.costUsd ?? 0) * 1e9), 0)
    )
    assert.isAtLeast(run.stepCount, baseline.run.stepCount)

    const [before, after] = [executions(sides[0]), executions(sides[1])]
    for (let n = 0; n < totalSteps; n++) {
      if (covered.has(n)) {
        assert.strictEqual(before[n]! + after[n]!, 1, `covered step ${n} executed ${before[n]! + after[n]!} times`)
      } else {
        assert.strictEqual(after[n], 1, `uncovered step ${n} executed ${after[n]} times by the resuming process`)
      }
    }
    return { _tag: "Killed", checkpoints: afterKill.checkpoints.length } as const
  }).pipe(Effect.scoped)

/**
 * Runs `kills` kill-and-resume rounds (each on a new database, removed after the round) against
 * an uninterrupted baseline run.
 */
const crashRounds = (newDatabase: Effect.Effect<Database, never, Scope.Scope>, kills: number) =>
  Effect.gen(function*() {
    const script = yield* bundle
    const baseline = yield* Effect.scoped(Effect.gen(function*() {
      const database = yield* newDatabase
      const child = yield* runFixture(script, {
        ...database.env,
        MR_SIDE: path.join(yield* tempDir("side"), "side"),
        MR_PACE: "5"
      })
      assert.strictEqual(child.code, 0, child.stderr)
      const run = Option.getOrThrow((yield* readRun(database, child.runId!)).run)
      assert.strictEqual(run.status, "completed")
      assert.strictEqual(run.stepCount, totalSteps)
      return { result: child.result, run, runMs: child.runMs }
    }))

    const checkpointsAtKill = new Set<number>()
    let killed = 0
    // kill anywhere in the run's span; a child that finished first narrows the span
    let span = baseline.runMs
    for (let attempt = 0; killed < kills && attempt < kills * 4; attempt++) {
      const outcome = yield* round(script, newDatabase, baseline, Math.random() * span)
      if (outcome._tag === "Finished") {
        span = Math.min(span, outcome.runMs) * 0.8
      } else {
        killed++
        checkpointsAtKill.add(outcome.checkpoints)
      }
    }
    assert.strictEqual(killed, kills, `only ${killed} of the children were killed before they finished`)
    return checkpointsAtKill
  }).pipe(Effect.scoped)

describe("crash and resume", () => {
  // 10 kills: each run of the suite draws new moments; the check below makes sure they spread
  it.live("SQLite: SIGKILL at 10 random moments, then resume in a new process, equals an uninterrupted run", () =>
    Effect.gen(function*() {
      const checkpointsAtKill = yield* crashRounds(sqliteDatabase, 10)
      // the kills landed at different points of the run, not all before the first checkpoint
      assert.isAtLeast(checkpointsAtKill.size, 2)
    }), 300_000)

  describePg("PostgreSQL", () => {
    it.live("kill at random moments and resume in a new process", () => crashRounds(pgDatabase(), 3), 300_000)
  })
})
