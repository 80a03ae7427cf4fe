/** RemoteLayer meets a wrong URL, a bad key and a server that goes away with typed errors, never a hang. */
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, RunContext, step, withRun } from "@multirun/core"
import { runRecord, stepRecord } from "@multirun/core/test-utils"
import { Effect, Exit, Logger, Ref, Scope } from "effect"
import * as net from "node:net"
import { memoryRemote, sqliteDatabase, start } from "./TestServer.js"

/** A loopback URL where nothing listens: a port that was free a moment ago. */
const closedUrl = Effect.async<string>((resume) => {
  const server = net.createServer().listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}`)))
  })
})

/** A program that counts how many of its steps ran. */
const counted = (ran: Ref.Ref<number>) =>
  withRun("never-started")(Effect.gen(function*() {
    yield* Ref.update(ran, (n) => n + 1).pipe(step("paid-model-call"))
    return (yield* RunContext).runId
  }))

describe("RemoteLayer at start", () => {
  it.scopedLive("an unreachable URL fails the layer with BackendError(Unreachable) naming it, before any step", () =>
    Effect.gen(function*() {
      const url = yield* closedUrl
      const ran = yield* Ref.make(0)
      const error = yield* Effect.flip(counted(ran).pipe(Effect.provide(memoryRemote({ url, apiKey: "mr_any" }))))
      assert.strictEqual(error._tag, "BackendError")
      if (error._tag !== "BackendError") return
      assert.deepStrictEqual([error.reason, error.location, error.operation], ["Unreachable", url, "connect"])
      assert.include(error.message, url)
      assert.strictEqual(yield* Ref.get(ran), 0)
    }))

  it.scopedLive("a key the server refuses fails the layer with BackendError(Unauthorized), before any step", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const ran = yield* Ref.make(0)
      const error = yield* Effect.flip(
        counted(ran).pipe(Effect.provide(memoryRemote({ url: server.url, apiKey: "mr_not-a-key" })))
      )
      assert.strictEqual(error._tag, "BackendError")
      if (error._tag !== "BackendError") return
      assert.deepStrictEqual([error.reason, error.location], ["Unauthorized", server.url])
      assert.include(error.message, "multirun keys create")
      assert.strictEqual(yield* Ref.get(ran), 0)
    }))

  it.scopedLive("a server that goes away: retries are logged with their count, and writeDeadline fails the waiters typed", () =>
    Effect.gen(function*() {
      const serverScope = yield* Scope.make()
      const server = yield* Scope.extend(start(yield* sqliteDatabase), serverScope)
      const apiKey = yield* server.keyFor("deadline")
      const warnings: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(message))
        })
      )
      const remote = memoryRemote({ url: server.url, apiKey, writeDeadline: "1 second", retryMax: "100 millis" })
      const exit = yield* withRun("deadline")(Effect.gen(function*() {
        yield* Effect.succeed(1).pipe(step("before"))
        yield* Scope.close(serverScope, Exit.void)
        yield* Effect.succeed(2).pipe(step("after"))
        return (yield* RunContext).runId
      })).pipe(Effect.provide(remote), Effect.provide(capture), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      const failure = error?._tag === "Fail" ? error.error : undefined
      assert.strictEqual(failure?._tag, "BackendError")
      if (failure?._tag !== "BackendError") return
      assert.deepStrictEqual([failure.reason, failure.location], ["Timeout", server.url])
      const attempts = warnings.filter((w) => w.includes(`ingest at ${server.url} failed (attempt`))
      assert.isAtLeast(attempts.length, 2)
      assert.include(attempts[0]!, "(attempt 1)")
      assert.include(attempts[1]!, "(attempt 2)")
    }))
})

describe("per-item ingest", () => {
  it.scopedLive("one record the server refuses fails the flush with BackendError(Rejected) naming it; the others are stored", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const apiKey = yield* server.keyFor("per-item")
      const good = stepRecord("good-0", "r", "a", 0)
      // a record the step API would refuse, written straight to the client as a buggy writer could
      const bad = { ...stepRecord("bad-1", "r", "a", 1), kind: "teleport" as "custom" }
      const after = stepRecord("good-2", "r", "a", 2)
      const [error, stored] = yield* Effect.gen(function*() {
        const client = yield* MultiRunClient.MultiRunClient
        yield* client.writeRun(runRecord("r"))
        for (const step of [good, bad, after]) yield* client.writeStep(step)
        const error = yield* Effect.flip(client.flush)
        yield* client.flush
        return [error, yield* client.listSteps("r")] as const
      }).pipe(Effect.provide(memoryRemote({ url: server.url, apiKey })))
      assert.deepStrictEqual([error.reason, error.location], ["Rejected", server.url])
      assert.include(error.message, "bad-1")
      assert.include(error.message, "teleport")
      assert.deepStrictEqual(stored.map((s) => s.id), ["good-0", "good-2"])
    }))
})

describe("batches cut by bytes", () => {
  it.scopedLive("no request passes the server's body limit; a record too large alone is refused, the others stored", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase, { maxBodyBytes: 64 * 1024 })
      const apiKey = yield* server.keyFor("bytes")
      const output = (n: number) => JSON.stringify("y".repeat(n))
      const steps = Array.from({ length: 20 }, (_, seq) => ({ ...stepRecord(`s-${seq}`, "r", "a", seq), output: output(10_000) }))
      const huge = { ...stepRecord("huge", "r", "a", 20), output: output(100_000) }
      const [error, stored] = yield* Effect.gen(function*() {
        const client = yield* MultiRunClient.MultiRunClient
        yield* client.writeRun(runRecord("r"))
        for (const step of [...steps, huge]) yield* client.writeStep(step)
        const error = yield* Effect.flip(client.flush)
        return [error, yield* client.listSteps("r")] as const
      }).pipe(Effect.provide(memoryRemote({ url: server.url, apiKey, maxBatchBytes: 48 * 1024 })))
      assert.strictEqual(error.reason, "Rejected")
      assert.include(error.message, "huge")
      assert.include(error.message, "413")
      assert.deepStrictEqual(stored.map((s) => s.id), steps.map((s) => s.id))
    }))
})
