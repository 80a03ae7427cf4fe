import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import * as http from "node:http"
import { batchOf } from "./fixtures/records.js"
import { request, sqliteDatabase, startServer } from "./utils.js"

/** Starts a POST whose body is sent in two parts; `finish` sends the rest and awaits the answer. */
const slowPost = (url: string, path: string, key: string, body: string) => {
  const half = Math.floor(body.length / 2)
  let answer: Promise<{ status: number; body: string }> | undefined
  const req = http.request(`${url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
  })
  answer = new Promise((resolve, reject) => {
    req.on("response", (res) => {
      let text = ""
      res.on("data", (chunk) => (text += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on("error", reject)
  })
  req.write(body.slice(0, half))
  return { finish: () => (req.end(body.slice(half)), answer!) }
}

describe("graceful shutdown", () => {
  it.live("stopping the server lets the request in flight finish, then stops accepting", () =>
    Effect.gen(function*() {
      const database = sqliteDatabase()
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(startServer(database), scope)
      const key = yield* server.keyFor("shutdown")
      const inFlight = slowPost(server.url, "/api/ingest", key, JSON.stringify(batchOf("slow", "slow-run", 2_000)))
      yield* Effect.sleep("300 millis")

      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.sleep("300 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "shutdown waits for the request in flight")
      const refused = yield* Effect.promise(() => request(server.url, { path: "/api/health" }).then(() => "answered", () => "refused"))
      assert.strictEqual(refused, "refused", "no new connections while draining")

      const answer = yield* Effect.promise(() => inFlight.finish())
      assert.strictEqual(answer.status, 200, answer.body)
      assert.deepStrictEqual(JSON.parse(answer.body), { stored: 2_002, duplicate: false })
      yield* Fiber.join(closing).pipe(Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "shutdown did not finish" }))

      // The batch is in the database after the restart.
      const again = yield* startServer(database)
      const steps = yield* Effect.promise(() => request(again.url, { path: "/api/runs/slow-run/steps", key }))
      assert.strictEqual(steps.status, 200)
      assert.strictEqual(steps.body.length, 2_000)
    }).pipe(Effect.scoped))
})
