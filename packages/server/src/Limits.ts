/**
 * Request limits and answers for requests the API cannot even decode: bodies over the size
 * limit (413, whether sent with `Content-Length` or chunked), bodies that are not UTF-8, not
 * JSON, of another content type or nested too deep, ids longer than the router accepts (400),
 * and paths no route serves (404), each with a JSON body `{ _tag, message }` like every other
 * error.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Api, Model } from "@multirun/core"
import { Cause, Effect, type Layer, Option } from "effect"
import * as Body from "./internal/body.js"

/**
 * The request body limit used when none is configured: 5 MiB.
 *
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 5 * 1024 * 1024

/**
 * How deep a request body may nest: a stored value's {@link Model.maxDepth} plus room for the
 * records around it. A deeper body is refused whole with 400, before any schema walks it.
 *
 * @since 0.2.0
 */
export const maxBodyDepth = Model.maxDepth + 64

const badRequest = (message: string) => new Api.BadRequest({ message })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The body, read and checked once, when the API first asks for it. */
interface CheckedBody {
  readonly bytes: Uint8Array
  readonly text: string
  readonly json: unknown
}

/**
 * Reads the body: at most `maxBodyBytes`, UTF-8, JSON (when not empty) nested at most
 * {@link maxBodyDepth}.
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  maxBodyBytes: number,
  tooLarge: Api.PayloadTooLarge
): Effect.Effect<CheckedBody, Api.BadRequest | Api.PayloadTooLarge> =>
  Effect.gen(function*() {
    const bytes = yield* Body.read(NodeHttpServerRequest.toIncomingMessage(request), maxBodyBytes).pipe(
      Effect.mapError((failure) =>
        failure._tag === "TooLarge" ? tooLarge : badRequest(`the request body could not be read: ${failure.message}`)
      )
    )
    if (bytes.length === 0) return { bytes, text: "", json: null }
    const contentType = request.headers["content-type"] || "(none)"
    if (!contentType.toLowerCase().includes("application/json")) {
      return yield* Effect.fail(badRequest(
        `the request body has Content-Type ${contentType}; send JSON with \`Content-Type: application/json\``
      ))
    }
    const text = yield* Effect.try({
      try: () => utf8.decode(bytes),
      catch: () =>
        badRequest(`the request body is not valid UTF-8 (at byte ${Body.firstInvalidUtf8(bytes)}); send JSON encoded as UTF-8`)
    })
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => badRequest(`the request body is not valid JSON: ${error instanceof Error ? error.message : error}`)
    })
    if (!Model.withinDepth(json, maxBodyDepth)) {
      return yield* Effect.fail(badRequest(
        `the request body nests deeper than ${maxBodyDepth} levels; stored values may nest at most ${Model.maxDepth}`
      ))
    }
    return { bytes, text, json }
  })

/**
 * The request whose body is read by `body` (once, when the API decodes the payload: after the
 * key is checked). The API turns a failure to read into a defect; the middleware answers it.
 */
const withBody = (
  request: HttpServerRequest.HttpServerRequest,
  body: Effect.Effect<CheckedBody, Api.BadRequest | Api.PayloadTooLarge>
): HttpServerRequest.HttpServerRequest =>
  Object.create(request, {
    text: { value: Effect.orDie(Effect.map(body, (read) => read.text)) },
    json: { value: Effect.orDie(Effect.map(body, (read) => read.json)) },
    arrayBuffer: { value: Effect.orDie(Effect.map(body, (read) => new Uint8Array(read.bytes).buffer)) },
    multipart: {
      value: Effect.orDie(Effect.zipRight(body, Effect.fail(badRequest("send JSON, not multipart/form-data"))))
    }
  })

/** A body failure that the API turned into a defect. */
const bodyFailure = (cause: Cause.Cause<unknown>) =>
  Cause.find(cause, (reason) =>
    Cause.isDieType(reason) &&
      (reason.defect instanceof Api.BadRequest || reason.defect instanceof Api.PayloadTooLarge)
      ? Option.some(reason.defect)
      : Option.none())

/**
 * Enforces `maxBodyBytes` (by `Content-Length` before reading, and while reading a chunked body),
 * reads and checks the body once when the API asks for it, and turns unknown paths into messages.
 * A body the API did not read (a refused key, an unknown path) is thrown away as an over-limit
 * one is, at most 64 MiB. For Node's HTTP server: the body is read from its `IncomingMessage`.
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
      const source = NodeHttpServerRequest.toIncomingMessage(request)
      const length = Number(request.headers["content-length"] ?? "0")
      if (length > maxBodyBytes) {
        yield* Effect.sync(() => Body.discard(source))
        return yield* Effect.fail(tooLarge)
      }
      const body = yield* Effect.cached(readBody(request, maxBodyBytes, tooLarge))
      return yield* app.pipe(
        Effect.ensuring(Effect.sync(() => {
          if (!source.complete && source.listenerCount("data") === 0) Body.discard(source)
        })),
        Effect.provideService(HttpServerRequest.HttpServerRequest, withBody(request, body)),
        Effect.catchAllCause((cause): Effect.Effect<
          HttpServerResponse.HttpServerResponse,
          Api.BadRequest | Api.PayloadTooLarge
        > => {
          const unreadable = bodyFailure(cause)
          if (Option.isSome(unreadable)) return Effect.fail(unreadable.value)
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
        })
      )
    }))
