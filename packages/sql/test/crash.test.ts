/**
 * Crash and resume across processes: a child process runs a deterministic 1,000-step run with a
 * checkpoint every 100 steps and is killed with SIGKILL at a random moment; a second process
 * resumes the run from its latest checkpoint and finishes it.
 */
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { PgLayer, SqliteLayer } from "../src/index.js"
import {
  bundleFixture,
  type Database,
  dropSchema,
  freshSchema,
  pgUrl,
  probePg,
  runFixture,
  tempDir,
  tempFile
} from "./helpers.js"

const pgAvailable = await probePg()
const schemas: Array<string> = []
afterAll(() => Promise.all(schemas.map(dropSchema)))

let script = ""
beforeAll(async () => {
  script = await bundleFixture("crash-run")
})

const totalSteps = 1000

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

interface Backend {
  readonly database: Database
  readonly env: Record<string, string>
}

const sqliteBackend = (): Backend => {
  const filename = tempFile()
  return {
    database: { open: (options) => SqliteLayer({ ...options, filename }) },
    env: { MR_BACKEND: "sqlite", MR_FILE: filename }
  }
}

const pgBackend = (): Backend => {
  const schema = freshSchema()
  schemas.push(schema)
  return {
    database: { open: (options) => PgLayer({ ...options, url: pgUrl, schema }) },
    env: { MR_BACKEND: "pg", MR_PG_URL: pgUrl, MR_PG_SCHEMA: schema }
  }
}

/**
 * Runs `kills` kill-and-resume rounds (each on a new database) and checks every round against an
 * uninterrupted run: same result, exact totals, covered steps stored and executed exactly once.
 */
const crashRounds = (newBackend: () => Backend, kills: number) =>
  Effect.gen(function*() {
    const baselineBackend = newBackend()
    const baseline = yield* Effect.promise(() =>
      runFixture(script, { ...baselineBackend.env, MR_SIDE: path.join(tempDir(), "side"), MR_PACE: "5" })
    )
    assert.strictEqual(baseline.code, 0, baseline.stderr)
    const expected = Option.getOrThrow((yield* readRun(baselineBackend.database, baseline.runId!)).run)
    assert.strictEqual(expected.status, "completed")
    assert.strictEqual(expected.stepCount, totalSteps)

    const checkpointsAtKill = new Set<number>()
    let killed = 0
    // kill anywhere in the run's span; a child that finished first narrows the span
    let span = baseline.runMs
    for (let attempt = 0; killed < kills && attempt < kills * 4; attempt++) {
      const backend = newBackend()
      const dir = tempDir()
      const sides = [path.join(dir, "side-1"), path.join(dir, "side-2")] as const
      const first = yield* Effect.promise(() =>
        runFixture(script, { ...backend.env, MR_SIDE: sides[0], MR_PACE: "5" }, Math.random() * span)
      )
      if (!first.killed) {
        assert.strictEqual(first.code, 0, first.stderr)
        span = Math.min(span, first.runMs) * 0.8
        continue
      }
      killed++
      const runId = first.runId!
      const afterKill = yield* readRun(backend.database, runId)
      const latest = afterKill.checkpoints.at(-1)
      checkpointsAtKill.add(afterKill.checkpoints.length)
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

      const second = yield* Effect.promise(() =>
        runFixture(script, { ...backend.env, MR_SIDE: sides[1], MR_RESUME: runId })
      )
      assert.strictEqual(second.code, 0, second.stderr)
      assert.deepStrictEqual(second.result, baseline.result)

      const final = yield* readRun(backend.database, runId)
      const run = Option.getOrThrow(final.run)
      assert.strictEqual(run.status, "completed")
      assert.strictEqual(run.result, expected.result)
      assert.strictEqual(run.stepCount, expected.stepCount)
      assert.strictEqual(run.tokensUsed, expected.tokensUsed)
      assert.strictEqual(run.costUsd, expected.costUsd)

      const [before, after] = [executions(sides[0]), executions(sides[1])]
      for (let n = 0; n < totalSteps; n++) {
        if (covered.has(n)) {
          assert.strictEqual(before[n]! + after[n]!, 1, `covered step ${n} executed ${before[n]! + after[n]!} times`)
        } else {
          assert.strictEqual(after[n], 1, `uncovered step ${n} executed ${after[n]} times by the resuming process`)
        }
      }
    }
    assert.strictEqual(killed, kills, `only ${killed} of the children were killed before they finished`)
    return checkpointsAtKill
  })

describe("crash and resume", () => {
  it.live("SQLite: SIGKILL at 20 random moments, then resume in a new process, equals an uninterrupted run", () =>
    Effect.gen(function*() {
      const checkpointsAtKill = yield* crashRounds(sqliteBackend, 20)
      // the kills landed at different points of the run, not all before the first checkpoint
      assert.isAtLeast(checkpointsAtKill.size, 2)
    }), 300_000)

  it.live.runIf(pgAvailable)("PostgreSQL: kill at random moments and resume in a new process", () =>
    crashRounds(pgBackend, 3), 300_000)
})
