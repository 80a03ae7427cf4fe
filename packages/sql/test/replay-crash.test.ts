/**
 * Replay across processes when checkpoints cut through concurrent and nested work: a child runs
 * 30 concurrent calls (a checkpoint taken while half are in flight) and a step whose body makes
 * model calls (a checkpoint taken while that step is in flight), and is killed with SIGKILL; a
 * second process resumes the run with `onDrift: "fail"`. Every covered call is replayed with its
 * own recorded result and executed exactly once over both processes, no drift is reported, and
 * what was not covered executes once in the second process.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Step from "@multirun/core/Step"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { bundleFixture, describePg, spawnChild, tempDir } from "@multirun/core/test-utils"
import { Effect, Option } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { type Database, pgDatabase, sqliteDatabase } from "./helpers.js"

const bundle = bundleFixture(path.join(import.meta.dirname, "fixtures", "replay-crash.ts"), {
  external: ["better-sqlite3", "pg-native"]
})

const nodePath = path.dirname(path.dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json")))

/** How many times each key was executed, from a side file. */
const executions = (file: string): Map<string, number> => {
  const counts = new Map<string, number>()
  if (!fs.existsSync(file)) return counts
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line !== "") counts.set(line, (counts.get(line) ?? 0) + 1)
  }
  return counts
}

/** The side-file key of a stored call. */
const keyOf = (step: Step.Encoded): string => {
  const input = JSON.parse(step.input) as { readonly url?: string; readonly prompt?: string }
  return step.name === "fetch" ? `fetch:${input.url!.split("/").at(-1)}` : step.name === "llm" ? `llm:${input.prompt}` : step.name
}

interface Result {
  readonly pages: ReadonlyArray<string>
  readonly summary: string
  readonly drifts: number
}

const round = (newDatabase: Effect.Effect<Database, never, Scope.Scope>) =>
  Effect.gen(function*() {
    const script = yield* bundle
    const database = yield* newDatabase
    const dir = yield* tempDir("side")
    const sides = [path.join(dir, "side-1"), path.join(dir, "side-2")] as const

    const first = yield* spawnChild(process.execPath, [script], {
      env: { ...database.env, MR_SIDE: sides[0], NODE_PATH: nodePath }
    })
    const runId = (yield* first.line((line) => line.startsWith("RUN "))).slice(4)
    yield* first.line((line) => line === "KILLME")
    yield* first.kill("SIGKILL")
    yield* first.exit

    // what the latest checkpoint covers, read from the store
    const stored = yield* Effect.gen(function*() {
      const client = yield* MultiRunClient
      return { steps: yield* client.listSteps(runId), checkpoints: yield* client.listCheckpoints(runId) }
    }).pipe(Effect.provide(database.open()))
    const latest = stored.checkpoints.at(-1)!
    assert.strictEqual(latest.name, "researching")
    const covered = new Map<string, string>()
    for (const step of stored.steps) {
      const inRange = latest.covered.some(([from, to]) => step.seq >= from && step.seq < to)
      if (inRange && step.status === "completed") covered.set(keyOf(step), JSON.parse(step.output!))
    }
    // the cut went through both: some fetches and the research step were in flight
    const coveredFetches = [...covered.keys()].filter((key) => key.startsWith("fetch:")).length
    assert.isAbove(coveredFetches, 0)
    assert.isFalse(covered.has("research"))
    assert.isTrue(covered.has("llm:outline") && covered.has("llm:sources"))

    const second = yield* spawnChild(process.execPath, [script], {
      env: { ...database.env, MR_SIDE: sides[1], MR_RESUME: runId, NODE_PATH: nodePath }
    })
    const exit = yield* second.exit
    assert.strictEqual(exit.code, 0, exit.stderr)
    const result = JSON.parse(exit.stdout.find((line) => line.startsWith("RESULT "))!.slice(7)) as Result
    assert.strictEqual(result.drifts, 0)

    const [before, after] = [executions(sides[0]), executions(sides[1])]
    for (const [key, output] of covered) {
      assert.strictEqual((before.get(key) ?? 0) + (after.get(key) ?? 0), 1, `covered call ${key} paid twice`)
      assert.include(output, "(first)", `covered call ${key}`)
    }
    for (const key of after.keys()) {
      if (!covered.has(key)) assert.strictEqual(after.get(key), 1, `uncovered call ${key} executed more than once`)
    }
    // each replayed call got its own record
    for (const [i, page] of result.pages.entries()) {
      const recorded = covered.get(`fetch:${i}`)
      assert.strictEqual(page, recorded ?? `page ${i} (resumed)`, `fetch ${i}`)
    }
    assert.include(result.summary, `${covered.get("llm:outline")} / ${covered.get("llm:sources")}`)

    const final = yield* Effect.flatMap(MultiRunClient, (client) => client.getRun(runId)).pipe(
      Effect.provide(database.open())
    )
    const run = Option.getOrThrow(final)
    assert.deepStrictEqual([run.status, run.drifts], ["completed", 0])
    return coveredFetches
  }).pipe(Effect.scoped)

describe("replay across processes", () => {
  it.live("SQLite: killed after checkpoints that cut through concurrent and nested calls, resumed: nothing paid twice, no drift", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* round(sqliteDatabase)
    }), 120_000)

  describePg("PostgreSQL", () => {
    it.live("killed after checkpoints that cut through concurrent and nested calls, resumed", () =>
      round(pgDatabase()), 120_000)
  })
})
