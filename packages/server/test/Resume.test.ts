import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, RemoteLayer } from "@multirun/core"
import { Effect, Option } from "effect"
import { execFile } from "node:child_process"
import * as path from "node:path"
import { serverForFile, sourceNodeArgs, sqliteDatabase } from "./utils.js"

const fixture = path.join(import.meta.dirname, "fixtures", "resumable.ts")

/** Runs the fixture in a new Node process; resolves with its exit code and JSON lines. */
const child = (env: Record<string, string>) =>
  Effect.async<{ code: number; events: Array<any>; stderr: string }>((resume) => {
    execFile(process.execPath, [...sourceNodeArgs, fixture], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
      resume(Effect.succeed({ code, events, stderr }))
    })
  })

describe("resume across processes", () => {
  const server = serverForFile(sqliteDatabase())

  it.live("a run started through RemoteLayer in one process resumes in another and replays the recorded steps", () =>
    Effect.gen(function*() {
      const { url } = server()
      const apiKey = yield* server().keyFor("resume")
      const env = { MULTIRUN_URL: url, MULTIRUN_API_KEY: apiKey }

      const first = yield* child({ ...env, MODE: "start" })
      assert.strictEqual(first.code, 3, first.stderr)
      const runId = first.events.find((e) => e.event === "started").runId as string
      assert.deepStrictEqual(first.events.find((e) => e.event === "crash").executed, ["s1", "s2", "s3", "s4"])

      const second = yield* child({ ...env, MODE: "resume", RUN_ID: runId })
      assert.strictEqual(second.code, 0, second.stderr)
      const started = second.events.find((e) => e.event === "started")
      assert.strictEqual(started.runId, runId)
      assert.isTrue(started.replaying)
      // s1..s3 came from the checkpoint: same answers, not executed again; s4 and s5 ran for real.
      assert.deepStrictEqual(second.events.find((e) => e.event === "done").executed, ["s4", "s5"])
      assert.deepStrictEqual(
        second.events.filter((e) => e.event === "step").map((e) => e.answer),
        ["answer 1", "answer 2", "answer 3", "answer 4", "answer 5"]
      )

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(RemoteLayer({ url, apiKey })))
      const run = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(run.status, "completed")
      const steps = yield* client.listSteps(runId)
      const replayed = steps.filter((s) => s.replayed).map((s) => s.name)
      assert.deepStrictEqual(replayed, ["s1", "s2", "s3"])
      const executedAfterResume = steps.filter((s) => !s.replayed && s.seq >= 3).map((s) => s.name)
      assert.includeMembers(executedAfterResume, ["s4", "s5"])
      const checkpoints = yield* client.listCheckpoints(runId)
      assert.deepStrictEqual(checkpoints.map((c) => c.name), ["after-3", "after-3"])
    }), { timeout: 120_000 })
})
