/**
 * Request limits and answers for requests the API cannot even decode: bodies over the size
 * limit (413), bodies that are not JSON and ids longer than the router accepts (400), and paths
 * no route serves (404), each with a JSON body `{ _tag, message }` like every other error.
 *
 * @since 0.1.0
 */
import { FileSystem, HttpApiBuilder, HttpIncomingMessage, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Api } from "@multirun/core"
import { Cause, Effect, type Layer, Option } from "effect"

/**
 * The request body limit used when none is configured: 5 MiB.
 *
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 5 * 1024 * 1024

interface RequestErrorLike {
  readonly _tag: "RequestError"
  readonly reason: "Transport" | "Decode"
  readonly cause?: unknown
}

const isRequestError = (u: unknown): u is RequestErrorLike =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "RequestError"

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Enforces `maxBodyBytes` (by `Content-Length` before reading, and while reading a body sent
 * without one) and turns undecodable bodies and unknown paths into messages.
 *
 * @since 0.1.0
 */
export const layer = (maxBodyBytes: number = defaultMaxBodyBytes): Layer.Layer<never> =>
  HttpApiBuilder.middleware(Api.Api, (app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const tooLarge = new Api.PayloadTooLarge({
        message: `the request body is larger than the server accepts (${maxBodyBytes} bytes); send smaller batches`,
        maxBytes: maxBodyBytes
      })
      const length = Number(request.headers["content-length"] ?? "0")
      if (length > maxBodyBytes) return yield* Effect.fail(tooLarge)
      return yield* app.pipe(
        Effect.catchAllCause((cause): Effect.Effect<HttpServerResponse.HttpServerResponse, Api.BadRequest | Api.PayloadTooLarge> => {
          const unreadable = Cause.find(cause, (reason) =>
            Cause.isDieType(reason) && isRequestError(reason.defect) ? Option.some(reason.defect) : Option.none())
          if (Option.isSome(unreadable)) {
            const error = unreadable.value
            if (describe(error.cause) === "maxBytes exceeded") return Effect.fail(tooLarge)
            return Effect.fail(new Api.BadRequest({
              message: error.reason === "Decode"
                ? `the request body is not valid JSON: ${describe(error.cause)}`
                : `the request body could not be read: ${describe(error.cause)}`
            }))
          }
          const notFound = Cause.failureOption(cause).pipe(
            Option.filter((error) => (error as { _tag?: unknown })._tag === "RouteNotFound")
          )
          if (Option.isSome(notFound)) {
            const longest = Math.max(...request.url.split("?")[0]!.split("/").map((segment) => segment.length))
            if (longest > Api.maxIdLength) {
              return Effect.fail(new Api.BadRequest({
                message: `a path segment has ${longest} characters; ids have at most ${Api.maxIdLength}`
              }))
            }
            return Effect.succeed(HttpServerResponse.unsafeJson(
              { _tag: "NotFound", message: `no route for ${request.method} ${request.url}` },
              { status: 404 }
            ))
          }
          return Effect.failCause(cause)
        }),
        HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(maxBodyBytes)))
      )
    }))
