/**
 * One log line per request: `GET /api/runs 200 3 ms`.
 *
 * @since 0.2.0
 */
import type { HttpApp } from "@effect/platform"
import { HttpServerRequest } from "@effect/platform"
import { Clock, Console, Effect, Exit } from "effect"

/**
 * Wraps an HTTP app so that each request, once answered, prints its method, path (without
 * the query), status and duration in milliseconds to stdout. A request that fails without an
 * answer is printed with status 500.
 *
 * @since 0.2.0
 */
export const middleware = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = yield* Clock.currentTimeMillis
    return yield* app.pipe(
      Effect.onExit((exit) =>
        Effect.flatMap(Clock.currentTimeMillis, (ended) => {
          const status = Exit.isSuccess(exit) ? exit.value.status : 500
          const path = request.url.split("?")[0]
          return Console.log(`${request.method} ${path} ${status} ${Math.round(ended - started)} ms`)
        })
      )
    )
  })
