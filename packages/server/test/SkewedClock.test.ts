/**
 * Leases on the store's clock (issue 21, point 2): a resumer whose clock runs 30 s ahead
 * (started under `faketime`) tries to resume a run whose owner is alive and renewing its lease.
 * On SQLite, PostgreSQL and through the server it gets `RunError(Locked)` and no step body runs
 * twice; the owner ends its run.
 */
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient } from "@multirun/core"
import { bundleFixture, describePg, pgSchema, pgUrl, runRecord, spawnChild, tempDir, tempFile } from "@multirun/core/test-utils"
import { Effect } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { memoryRemote, request, sqliteDatabase, start } from "./TestServer.js"

/** Where the bundled child finds better-sqlite3 (a native addon, left out of the bundle). */
const nodePath = path.dirname(path.dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json")))

const skew = 30_000

/**
 * The owner runs; once it is under way, the skewed resumer runs to its end; then the owner is
 * told to end. Every step body ran once, in order.
 */
const ownerAndSkewedResumer = (backend: Record<string, string>): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const script = yield* bundleFixture(path.join(import.meta.dirname, "fixtures", "skewedOwner.ts"), {
      external: ["better-sqlite3", "pg-native"]
    })
    const dir = yield* tempDir("skew")
    const [side, stop] = [path.join(dir, "executed.txt"), path.join(dir, "stop")]
    const env = { ...backend, MR_SIDE: side, MR_STOP: stop, NODE_PATH: nodePath }
    const owner = yield* spawnChild(process.execPath, [script], { env })
    const runId = (yield* owner.line((line) => line.startsWith("RUN "))).slice(4)
    const before = Date.now()
    const resumer = yield* spawnChild("faketime", ["-f", `+${skew / 1000}s`, process.execPath, script], {
      env: { ...env, MR_RESUME: runId }
    })
    // the resumer prints RUN only once it owns the run and checkpointed a step: then stop both
    const tookOver = yield* Effect.either(resumer.line((line) => line.startsWith("RUN ")))
    if (tookOver._tag === "Right") {
      fs.writeFileSync(stop, "")
      return assert.fail(`the resumer took the live run over: ${fs.readFileSync(side, "utf8").split("\n").length} bodies ran`)
    }
    const resumerExit = yield* resumer.exit
    const resumerClock = Number(resumerExit.stdout.find((line) => line.startsWith("CLOCK "))?.slice(6))
    assert.isAtLeast(resumerClock - before, skew, "the resumer's clock ran ahead")
    assert.strictEqual(resumerExit.code, 1, resumerExit.stderr)
    assert.include(resumerExit.stderr, `RunError(Locked) for run ${runId}`)
    fs.writeFileSync(stop, "")
    const ended = yield* owner.exit
    assert.strictEqual(ended.code, 0, ended.stderr)
    assert.include(ended.stdout, "DONE")
    const executed = fs.readFileSync(side, "utf8").trim().split("\n")
    assert.deepStrictEqual(executed, executed.map((_, i) => `s${i}`), "every body ran once, in order")
  })

describe("a resumer whose clock runs 30 s ahead is Locked while the owner lives", () => {
  it.scopedLive("on SQLite", () =>
    Effect.flatMap(tempFile("skew.db"), (file) => ownerAndSkewedResumer({ MR_BACKEND: "sqlite", MR_FILE: file })), 120_000)

  describePg("PostgreSQL", () => {
    it.scopedLive("on PostgreSQL", () =>
      Effect.flatMap(pgSchema, (schema) =>
        ownerAndSkewedResumer({ MR_BACKEND: "pg", MR_PG_URL: pgUrl, MR_PG_SCHEMA: schema })), 120_000)
  })

  it.scopedLive("through the server", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const apiKey = yield* server.keyFor("skew")
      yield* ownerAndSkewedResumer({ MR_BACKEND: "remote", MULTIRUN_URL: server.url, MULTIRUN_API_KEY: apiKey })
    }), 120_000)
})

describe("a lease request over HTTP carries no time the server trusts", () => {
  it.scopedLive("a 0.2 client's now of 2036 is ignored, ten years of time to live are refused: the run is not locked", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const key = yield* server.keyFor("lock-2036")
      yield* Effect.flatMap(MultiRunClient.MultiRunClient, (client) =>
        Effect.zipRight(client.writeRun(runRecord("target", { name: "target" })), client.flush)).pipe(
          Effect.provide(memoryRemote({ url: server.url, apiKey: key }))
        )
      const lease = (body: object) =>
        Effect.promise(() =>
          request(server.url, { method: "POST", path: "/api/runs/target/lease", key, body: JSON.stringify(body) })
        )
      const in2036 = Date.UTC(2036, 0, 1)
      const tenYears = yield* lease({ owner: "attacker", now: in2036, ttlMs: 10 * 365 * 86_400_000 })
      assert.strictEqual(tenYears.status, 400, JSON.stringify(tenYears.body))
      assert.include(JSON.stringify(tenYears.body), "ttlMs")
      const before = Date.now()
      const old = yield* lease({ owner: "attacker", now: in2036, ttlMs: 30_000 })
      assert.strictEqual(old.status, 200, JSON.stringify(old.body))
      assert.isAtLeast(old.body.acquiredAt, before - 1_000, "stamped with the server's time")
      assert.isAtMost(old.body.expiresAt, Date.now() + 30_000, "until the server's time plus its time to live")
      // a second requester naming the live holder without force is refused; nobody leases a run that does not exist
      const named = yield* lease({ owner: "rival", ttlMs: 30_000, replaces: "attacker" })
      assert.deepStrictEqual([named.status, named.body.reason], [409, "Locked"])
      const missing = yield* Effect.promise(() =>
        request(server.url, { method: "POST", path: "/api/runs/nothing/lease", key, body: '{"owner":"x","ttlMs":30000}' })
      )
      assert.deepStrictEqual([missing.status, missing.body.reason], [409, "NotFound"])
    }), 60_000)
})
