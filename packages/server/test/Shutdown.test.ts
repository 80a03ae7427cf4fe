import { assert, describe, it } from "@effect/vitest"
import { batchOf, eventually } from "@multirun/core/test-utils"
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import * as http from "node:http"
import { request, sqliteDatabase, start } from "./TestServer.js"

/**
 * Starts a POST whose body is sent in two parts. It resolves once the server has read the
 * request's headers (it answered `100 Continue`, so the request is in flight on its side) and
 * the first half of the body is on the wire; `finish` sends the rest and awaits the answer.
 */
const slowPost = (url: string, path: string, key: string, body: string) =>
  Effect.async<{ readonly finish: () => Promise<{ status: number; body: string }> }, Error>((resume) => {
    const half = Math.floor(body.length / 2)
    const req = http.request(`${url}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        expect: "100-continue"
      }
    })
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on("response", (res) => {
        let text = ""
        res.on("data", (chunk) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
      })
      req.on("error", reject)
    })
    answer.catch((error) => resume(Effect.fail(error)))
    req.on("continue", () => {
      req.write(body.slice(0, half), () => resume(Effect.succeed({ finish: () => (req.end(body.slice(half)), answer) })))
    })
    req.flushHeaders()
  })

describe("graceful shutdown", () => {
  it.scopedLive("stopping the server lets the request in flight finish, then stops accepting", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(start(database), scope)
      const key = yield* server.keyFor("shutdown")
      const inFlight = yield* slowPost(server.url, "/api/ingest", key, JSON.stringify(batchOf("slow", "slow-run", 2_000)))

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const health = Effect.promise(() => request(server.url, { path: "/api/health" }).then(() => "answered", () => "refused"))
      yield* eventually("the stopping server refuses new connections", Effect.map(health, (answer) => answer === "refused"))
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "shutdown waits for the request in flight")

      const answer = yield* Effect.promise(() => inFlight.finish())
      assert.strictEqual(answer.status, 200, answer.body)
      assert.deepStrictEqual(JSON.parse(answer.body), { stored: 2_002, duplicate: false, rejected: [] })
      yield* Fiber.join(closing).pipe(Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "shutdown did not finish" }))

      // The batch is in the database after the restart.
      const again = yield* start(database)
      const steps = yield* Effect.promise(() => request(again.url, { path: "/api/runs/slow-run/steps", key }))
      assert.strictEqual(steps.status, 200)
      assert.strictEqual(steps.body.length, 2_000)
    }))
})
