/**
 * `RemoteLayer`'s retries honor a server's `Retry-After` (issue 21, point 7): a 503 answered with
 * `Retry-After: 3`, raw (ingest) or decoded as `Api.Unavailable` (the typed client), is sent
 * again no sooner than 3 s later; a failure that asks for nothing keeps the backoff's delay.
 * Driven by `TestClock`.
 */
import { HttpClientError, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, TestClock } from "effect"
import * as Api from "../src/Api.js"
import { honoringRetryAfter } from "../src/internal/remote.js"

const busy = (headers: Record<string, string>) => {
  const request = HttpClientRequest.post("http://127.0.0.1:1/api/ingest")
  return new HttpClientError.ResponseError({
    request,
    response: HttpClientResponse.fromWeb(request, new Response(null, { status: 503, headers })),
    reason: "StatusCode"
  })
}

/** How many attempts were made by `elapsed` when the first one fails with `error`. */
const attemptsAfter = (error: unknown, elapsed: number) =>
  Effect.gen(function*() {
    let attempts = 0
    const fiber = yield* Effect.suspend(() => ++attempts === 1 ? Effect.fail(error) : Effect.void).pipe(
      Effect.retry(honoringRetryAfter(Schedule.exponential("50 millis"))),
      Effect.fork
    )
    yield* TestClock.adjust(elapsed)
    yield* Fiber.interrupt(fiber)
    return attempts
  })

describe("Retry-After", () => {
  it.effect("a 503 with Retry-After in seconds is retried after that delay, not before", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* attemptsAfter(busy({ "retry-after": "3" }), 2_900), 1)
      assert.strictEqual(yield* attemptsAfter(busy({ "retry-after": "3" }), 3_000), 2)
    }))

  it.effect("Api.Unavailable with retryAfter (the typed client's 503) is retried after that delay", () =>
    Effect.gen(function*() {
      const error = new Api.Unavailable({ message: "busy", retryAfter: 2 })
      assert.strictEqual(yield* attemptsAfter(error, 1_900), 1)
      assert.strictEqual(yield* attemptsAfter(error, 2_000), 2)
    }))

  it.effect("a failure that asks for no delay keeps the backoff's", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* attemptsAfter(busy({}), 50), 2)
      assert.strictEqual(yield* attemptsAfter(new Api.Unavailable({ message: "down" }), 50), 2)
    }))
})
