/**
 * The outbox's disk fills while the server is stopped (issue 21, point 6): the append that fails
 * reports `BackendError("DiskFull")` naming the outbox file at once, not when the server is back.
 * The outbox file lives on a small tmpfs (mounting needs root; elsewhere the test is skipped).
 */
import { assert, describe, it } from "@effect/vitest"
import { RemoteLayer, step, withRun } from "@multirun/core"
import { canMount, smallDisk } from "@multirun/core/test-utils"
import * as SqliteOutbox from "@multirun/sql/SqliteOutbox"
import { Clock, Effect, Exit, Layer, Logger, Scope } from "effect"
import * as path from "node:path"
import { sqliteDatabase, start } from "./TestServer.js"

const payload = "x".repeat(8 * 1024)

if (!canMount) console.warn("[multirun] skipping the outbox full-disk test: mounting a tmpfs needs root")

describe.skipIf(!canMount)("a full outbox disk while the server is stopped", () => {
  it.scopedLive("the append that fails ends the run with BackendError(DiskFull) naming the file, at once", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* smallDisk("1m"), "outbox.db")
      const serverScope = yield* Scope.make()
      const server = yield* Scope.extend(start(yield* sqliteDatabase), serverScope)
      const apiKey = yield* server.keyFor("disk")
      // the server stays away: past the write deadline the layer's closing flush gives up
      const remote = RemoteLayer({ url: server.url, apiKey, retryMax: "100 millis", writeDeadline: "10 seconds" }).pipe(
        Layer.provide(SqliteOutbox.layer({ filename }))
      )
      let stoppedAt = 0
      const [exit, failedAfter] = yield* withRun("fills-the-outbox")(Effect.gen(function*() {
        yield* Effect.succeed(0).pipe(step("before"))
        yield* Scope.close(serverScope, Exit.void)
        stoppedAt = yield* Clock.currentTimeMillis
        for (let i = 0; i < 1_000; i++) yield* Effect.succeed(payload).pipe(step("big", { input: { i } }))
      })).pipe(
        Effect.exit,
        Effect.flatMap((exit) => Effect.map(Clock.currentTimeMillis, (now) => [exit, now - stoppedAt] as const)),
        Effect.provide(remote),
        // the retries of the stopped server are expected warnings
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)),
        Effect.timeoutFail({ duration: "40 seconds", onTimeout: () => "hung" as const })
      )
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      assert.strictEqual(typeof failure === "object" && failure._tag, "BackendError")
      if (typeof failure !== "object" || failure._tag !== "BackendError") return
      assert.deepStrictEqual([failure.reason, failure.location], ["DiskFull", filename])
      // before the write deadline, and long before the server is back (it never is)
      assert.isBelow(failedAfter, 5_000, `the run ended ${failedAfter} ms after the server stopped`)
    }), { timeout: 60_000 })
})
