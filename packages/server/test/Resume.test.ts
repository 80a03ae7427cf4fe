import { assert, layer } from "@effect/vitest"
import { Checkpoint, MultiRunClient } from "@multirun/core"
import { bundleFixture, spawnChild } from "@multirun/core/test-utils"
import { Effect, Option } from "effect"
import * as path from "node:path"
import { layerSqlite, memoryRemote, TestServer } from "./TestServer.js"

/** Runs the bundled fixture in a new Node process to its end: its exit code and JSON lines. */
const child = (script: string, env: Record<string, string>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.flatMap(spawnChild(process.execPath, [script], { env }), (child) => child.exit)
    const events = exit.stdout.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
    return { code: exit.code, events, stderr: exit.stderr }
  }).pipe(Effect.scoped)

layer(layerSqlite(), { excludeTestServices: true })("resume across processes", (it) => {
  it.scoped("a run started through RemoteLayer in one process resumes in another and replays the recorded steps", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const { url } = server
      const apiKey = yield* server.keyFor("resume")
      const env = { MULTIRUN_URL: url, MULTIRUN_API_KEY: apiKey }
      const script = yield* bundleFixture(path.join(import.meta.dirname, "fixtures", "resumable.ts"))

      const first = yield* child(script, { ...env, MODE: "start" })
      assert.strictEqual(first.code, 3, first.stderr)
      const runId = first.events.find((e) => e.event === "started").runId as string
      assert.deepStrictEqual(first.events.find((e) => e.event === "crash").executed, ["s1", "s2", "s3", "s4"])

      const second = yield* child(script, { ...env, MODE: "resume", RUN_ID: runId })
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

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(memoryRemote({ url, apiKey })))
      const run = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(run.status, "completed")
      const steps = yield* client.listSteps(runId)
      // the resume lists the recorded steps it replayed (they have no rows of their own)
      const replayed = steps.filter((s) => (run.replays ?? []).some((r) => Checkpoint.covers(r.steps, s.seq))).map((s) => s.name)
      assert.deepStrictEqual(replayed, ["s1", "s2", "s3"])
      const executedAfterResume = steps.filter((s) => !s.replayed && s.seq >= 3).map((s) => s.name)
      assert.includeMembers(executedAfterResume, ["s4", "s5"])
      const checkpoints = yield* client.listCheckpoints(runId)
      // the resumed program reached "after-3" again: it got the recorded checkpoint back, nothing new was written
      assert.deepStrictEqual(checkpoints.map((c) => c.name), ["after-3"])
    }), { timeout: 120_000 })
})
