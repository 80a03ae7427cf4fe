/**
 * Admission control (issue 21, point 7): a flood of concurrent API requests against a server
 * over PostgreSQL with a small `maxPendingRequests`. Every request gets an answer: the admitted
 * ones 200, the others at once 503 with `Retry-After` and an `Unavailable` body; the health check
 * is never refused. Real server on loopback, raw requests through `node:http`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Api } from "@multirun/core"
import { Effect, Schema } from "effect"
import { getWithHost, pgDatabase, start } from "./TestServer.js"

describe("Admission", () => {
  it.scopedLive("beyond maxPendingRequests the API answers 503 with Retry-After; every request is answered", () =>
    Effect.gen(function*() {
      const { apiKey, port } = yield* start(yield* pgDatabase, { maxPendingRequests: 2 })
      const host = `127.0.0.1:${port}`
      const [runs, health] = yield* Effect.all([
        Effect.all(Array.from({ length: 200 }, () => getWithHost(port, "/api/runs", host, apiKey)), {
          concurrency: "unbounded"
        }),
        Effect.all(Array.from({ length: 20 }, () => getWithHost(port, "/api/health", host)), {
          concurrency: "unbounded"
        })
      ], { concurrency: "unbounded" })
      const refused = runs.filter((answer) => answer.status === 503)
      const served = runs.filter((answer) => answer.status === 200)
      assert.strictEqual(refused.length + served.length, runs.length, runs.map((answer) => answer.status).join(","))
      assert.isAbove(refused.length, 0)
      assert.isAtLeast(served.length, 2)
      for (const answer of refused) {
        assert.strictEqual(answer.headers["retry-after"], "1")
        // what the API's typed clients decode, and RemoteLayer waits for
        const body = Schema.decodeUnknownSync(Api.Unavailable)(JSON.parse(answer.body))
        assert.strictEqual(body.retryAfter, 1)
        assert.include(body.message, "--max-pending-requests")
      }
      assert.deepStrictEqual(health.map((answer) => answer.status), health.map(() => 200))
      // once the flood is over, requests are admitted again
      assert.strictEqual((yield* getWithHost(port, "/api/runs", host, apiKey)).status, 200)
    }), { timeout: 30_000 })
})
