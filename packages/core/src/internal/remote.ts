/**
 * Helpers of `Remote.layer`: how big a request's events are, what its failures say, and the check
 * of the server at start.
 */
import { type HttpClient, HttpClientError, HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Cause, Clock, Duration, Effect, Redacted, Schedule } from "effect"
import { Buffer } from "node:buffer"
import * as Api from "../Api.js"
import { BackendError } from "../Errors.js"
import type * as Event from "../Event.js"
import type { HttpApiClientFor } from "../RemoteLayer.js"

/** An error's name (unless plain `Error`) and message. */
export const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error)

/** The UTF-8 size of the JSON of `value`: what it adds to a request body. */
const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8")

/**
 * About the encoded size of an event in a request body, in UTF-8 bytes (what the server's limit
 * counts): exact for the large parts (a step's input, output and error, a record's metadata),
 * with room for the small fields.
 */
export const weigh = (event: Event.Event): number => {
  if (event._tag !== "StepWritten") return jsonBytes(event._tag === "RunWritten" ? event.run : event.agent)
  const step = event.step
  return 1_024 + jsonBytes(step.name) + jsonBytes(step.input) +
    (step.output === null ? 0 : jsonBytes(step.output)) +
    (step.error === null ? 0 : jsonBytes(step.error))
}

/** The status of an HTTP answer that failed a request, if it was one. */
const statusOf = (error: unknown): number | undefined =>
  HttpClientError.isHttpClientError(error) && error._tag === "ResponseError" ? error.response.status : undefined

/**
 * An ingest failure that the records of the batch may have caused, so that the batch is split to
 * find them: the body was too large (413) or refused whole (400, 422), or the server failed on it
 * (500; retried until the write deadline first). An unreachable, overloaded or unavailable server
 * (transport errors, 429, 502–504) is no record's fault.
 */
export const isRecordFault = (error: unknown): boolean => {
  const status = statusOf(error)
  return status === 413 || status === 400 || status === 422 || status === 500
}

/** A 500 answer: the server failed on the request. */
export const isServerFailure = (error: unknown): boolean => statusOf(error) === 500

/** The longest wait a server's `Retry-After` imposes. */
const maxRetryAfter = Duration.minutes(1)

/**
 * How long a failed request's server asked to wait before sending it again: the `Retry-After`
 * of a 503 or 429 answer (seconds or an HTTP date), or the `retryAfter` of an `Unavailable`
 * error; zero when it did not ask, at most a minute. `now` (from `Clock`) dates an HTTP date.
 */
export const retryAfter = (error: unknown, now: number): Duration.Duration => {
  let seconds = NaN
  if (error instanceof Api.Unavailable && error.retryAfter !== undefined) seconds = error.retryAfter
  else if (
    HttpClientError.isHttpClientError(error) && error._tag === "ResponseError" &&
    (error.response.status === 503 || error.response.status === 429)
  ) {
    const header = error.response.headers["retry-after"] ?? ""
    seconds = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - now) / 1000
  }
  return Number.isFinite(seconds) && seconds > 0
    ? Duration.min(Duration.millis(seconds * 1000), maxRetryAfter)
    : Duration.zero
}

/** `schedule`, whose every delay is at least what the failure it retries asked for ({@link retryAfter}). */
export const honoringRetryAfter = <Out>(
  schedule: Schedule.Schedule<Out, unknown>
): Schedule.Schedule<[Out, unknown], unknown> =>
  Schedule.intersect(schedule, Schedule.identity<unknown>()).pipe(
    Schedule.modifyDelayEffect(([, error], delay) =>
      Effect.map(Clock.currentTimeMillis, (now) => Duration.max(delay, retryAfter(error, now)))
    )
  )

/** Which record an event refused by the server held, and why. */
export const describeRefused = (event: Event.Event | undefined, reason: string): string => {
  if (event === undefined) return reason
  const [kind, id] = event._tag === "RunWritten"
    ? ["run", event.run.id]
    : event._tag === "AgentWritten"
    ? ["agent", event.agent.id]
    : [`step "${event.step.name}"`, event.step.id]
  return `${kind} ${id}: ${reason.replace(/\s+/g, " ")}`
}

/** The server could not be reached at all (no connection, no answer in time). */
export const isUnreachable = (error: unknown): boolean =>
  (HttpClientError.isHttpClientError(error) && error._tag === "RequestError" && error.reason === "Transport") ||
  Cause.isTimeoutException(error)

/** A failed request as a `BackendError` naming the server and, when known, why. */
export const backendError = (operation: string, location: string) => (error: unknown): BackendError => {
  if (error instanceof BackendError) return error
  const reason = isUnreachable(error)
    ? "Unreachable" as const
    : error instanceof Api.Unauthorized
    ? "Unauthorized" as const
    : undefined
  return new BackendError({ operation, location, detail: describe(error), ...(reason ? { reason } : {}) })
}

/**
 * Checks that a multirun server answers at the URL and accepts the key, so that a wrong URL or
 * key fails the layer at once instead of the first write waiting for ever; gives the key's project.
 */
export const checkServer = (
  api: Effect.Effect.Success<ReturnType<typeof HttpApiClientFor>>,
  location: string,
  timeout: Duration.DurationInput
): Effect.Effect<string, BackendError> =>
  Effect.gen(function*() {
    yield* api.health.health().pipe(
      Effect.timeout(timeout),
      Effect.mapError((error) =>
        new BackendError({
          operation: "connect",
          reason: "Unreachable",
          location,
          detail: `no multirun server answers at this URL (${describe(error)}); ` +
            "start one with `multirun serve`, or check the URL"
        })
      )
    )
    return yield* api.usage.project().pipe(
      Effect.map(({ project }) => project),
      Effect.timeout(timeout),
      Effect.mapError((error) =>
        error instanceof Api.Unauthorized
          ? new BackendError({
            operation: "connect",
            reason: "Unauthorized",
            location,
            detail: "the server refused the API key; make one with `multirun keys create --project NAME`"
          })
          : backendError("connect", location)(error)
      )
    )
  })

/** Posts one ingest batch; a non-2xx answer fails with its status and the server's message. */
export const ingestPoster = (http: HttpClient.HttpClient, url: string, apiKey: Redacted.Redacted<string>) => {
  const ingestUrl = `${url.replace(/\/+$/, "")}${Api.Api.groups.ingest!.endpoints.ingest!.path}`
  const decodeIngested = HttpClientResponse.schemaBodyJson(Api.IngestResult)
  return (batch: Event.Batch) =>
    http.execute(
      HttpClientRequest.post(ingestUrl).pipe(
        HttpClientRequest.bearerToken(Redacted.value(apiKey)),
        HttpClientRequest.bodyUnsafeJson(batch)
      )
    ).pipe(
      Effect.flatMap((response) =>
        response.status === 200
          ? decodeIngested(response)
          : Effect.flatMap(Effect.orElseSucceed(response.json, () => ({})), (body) =>
            Effect.fail(
              new HttpClientError.ResponseError({
                request: response.request,
                response,
                reason: "StatusCode",
                description: String((body as { readonly message?: unknown }).message ?? "no message")
              })
            ))
      ),
      Effect.scoped
    )
}
