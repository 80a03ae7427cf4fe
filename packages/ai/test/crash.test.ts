/**
 * Crash and resume across processes: a child process runs a 5-call @effect/ai agent on SQLite
 * against the OpenAI stub and dies (SIGKILL) after 3 calls; a new process resumes the run. The
 * provider sees exactly the 2 missing calls, and the result equals an uninterrupted run's.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqliteLayer } from "@multirun/sql"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import * as OpenAiStub from "./fixtures/OpenAiStub.js"
import { bundleFixture, runChild, scopedTempDir, stored } from "./helpers.js"

const readRun = (filename: string, runId: string) => stored(runId).pipe(Effect.provide(Layer.orDie(SqliteLayer({ filename }))))

describe("crash and resume", () => {
  it.scoped("SIGKILL after 3 of 5 model calls; the resumed process calls the provider twice and ends as an uninterrupted run", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir
      const script = yield* bundleFixture("crash-agent", dir)
      const stub = yield* OpenAiStub.make()
      const url = stub.url

      const baselineFile = path.join(dir, "baseline.db")
      const baseline = yield* runChild(script, { MR_FILE: baselineFile, MR_OPENAI_URL: url })
      assert.strictEqual(baseline.code, 0, baseline.stderr)
      const baselinePrompts = stub.requests.map((r) => r.text)
      assert.strictEqual(baselinePrompts.length, 5)

      const file = path.join(dir, "crash.db")
      const crashed = yield* runChild(script, { MR_FILE: file, MR_OPENAI_URL: url, MR_CRASH_AFTER: "3" })
      assert.strictEqual(crashed.signal, "SIGKILL", crashed.stderr)
      assert.isDefined(crashed.runId)
      assert.strictEqual(stub.requests.length, 8)
      const afterCrash = yield* readRun(file, crashed.runId!)
      assert.strictEqual(afterCrash.run.status, "running")
      assert.strictEqual(afterCrash.steps.filter((s) => s.status === "completed").length, 3)

      const resumed = yield* runChild(script, { MR_FILE: file, MR_OPENAI_URL: url, MR_RESUME: crashed.runId! })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual(stub.requests.length, 10)
      assert.deepStrictEqual(stub.requests.slice(8).map((r) => r.text), baselinePrompts.slice(3))
      assert.deepStrictEqual(resumed.result, baseline.result)
      const answers = (resumed.result as { answers: Array<string> }).answers
      assert.strictEqual(answers.length, 5)
      assert.strictEqual(answers[4], `echo: step 4, after: ${answers[3]}`)

      const expected = yield* readRun(baselineFile, baseline.runId!)
      const actual = yield* readRun(file, crashed.runId!)
      assert.strictEqual(actual.run.status, "completed")
      assert.strictEqual(actual.run.result, expected.run.result)
      assert.strictEqual(actual.run.stepCount, expected.run.stepCount)
      assert.strictEqual(actual.run.tokensUsed, expected.run.tokensUsed)
      assert.strictEqual(actual.run.costUsd, expected.run.costUsd)
      assert.isAbove(actual.run.costUsd ?? 0, 0)
      // the three recorded calls were replayed (no rows of their own), the last two executed
      assert.deepStrictEqual(actual.steps.map((s) => [s.seq, s.name, s.replayed]), [
        [0, "generateText", false],
        [1, "streamText", false],
        [2, "generateText", false],
        [3, "streamText", false],
        [4, "generateText", false]
      ])
      assert.deepStrictEqual(actual.replayed.map((s) => s.seq), [0, 1, 2])
    }), 120_000)

  it.scoped("SIGKILL right after a tool call: the tool step's record is durable before its result is used", () =>
    Effect.gen(function*() {
      const dir = yield* scopedTempDir
      const script = yield* bundleFixture("tool-crash", dir)
      const file = path.join(dir, "tool.db")
      const crashed = yield* runChild(script, { MR_FILE: file })
      assert.strictEqual(crashed.signal, "SIGKILL", crashed.stderr)
      assert.isDefined(crashed.runId)
      const { steps } = yield* readRun(file, crashed.runId!)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.kind, s.status, s.output]), [
        ["Charge", "tool_call", "completed", "\"charged 5\""]
      ])
    }), 60_000)
})
