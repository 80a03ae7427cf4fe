/**
 * A full disk, for real: the SQLite file lives on a small tmpfs. The run ends with a typed
 * `BackendError("DiskFull")` naming the file within seconds, nothing hangs, and once the disk
 * has room again the run resumes from its checkpoint with everything written before the fault.
 * Mounting needs root (CI runs as root); elsewhere the test is skipped with a message.
 */
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { canMount, smallDisk } from "@multirun/core/test-utils"
import { Effect, Exit, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { SqliteLayer } from "../src/index.js"

const payload = "x".repeat(8 * 1024)

if (!canMount) console.warn("[multirun] skipping the full-disk test: mounting a tmpfs needs root")

describe.skipIf(!canMount)("a full disk under SQLite", () => {
  it.scopedLive("ends the run with BackendError(DiskFull) naming the file; after room is made, the run resumes", () =>
    Effect.gen(function*() {
      const dir = yield* smallDisk("1m")
      const filename = path.join(dir, "runs.db")
      let runId = ""
      const first = yield* withRun("fills-the-disk")(Effect.gen(function*() {
        const run = yield* RunContext
        runId = run.runId
        for (let i = 0; i < 20; i++) yield* Effect.succeed(i).pipe(step("small", { input: { i } }))
        yield* run.checkpoint("before-the-fault")
        for (let i = 0; i < 400; i++) yield* Effect.succeed(payload).pipe(step("big", { input: { i } }))
      })).pipe(
        Effect.provide(SqliteLayer({ filename })),
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => "hung" as const }),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(first))
      const failure = Exit.isFailure(first) && first.cause._tag === "Fail" ? first.cause.error : undefined
      assert.notStrictEqual(failure, "hung", "the program must not hang on a full disk")
      assert.strictEqual(typeof failure === "object" && failure._tag, "BackendError")
      if (typeof failure !== "object" || failure._tag !== "BackendError") return
      assert.strictEqual(failure.reason, "DiskFull")
      assert.strictEqual(failure.location, filename)

      execFileSync("mount", ["-o", "remount,size=64m", dir])
      const resumed = yield* withRun({ name: "fills-the-disk", resume: { runId, latest: true } })(Effect.gen(function*() {
        const run = yield* RunContext
        const replayed = yield* run.isReplaying
        for (let i = 0; i < 20; i++) yield* Effect.succeed(i).pipe(step("small", { input: { i } }))
        return replayed
      })).pipe(Effect.provide(SqliteLayer({ filename })))
      assert.isTrue(resumed, "the checkpoint written before the fault is there")
      const [run, steps] = yield* Effect.flatMap(
        MultiRunClient,
        (client) => Effect.all([client.getRun(runId), client.listSteps(runId)])
      ).pipe(Effect.provide(SqliteLayer({ filename })))
      assert.strictEqual(Option.getOrThrow(run).status, "completed")
      // the 20 recorded steps were replayed (no rows of their own), nothing executed twice
      const small = steps.filter((s) => s.name === "small")
      assert.deepStrictEqual(
        [small.length, (Option.getOrThrow(run).replays ?? []).map((r) => r.steps)],
        [20, [[[0, 20]]]]
      )
    }))
})
