/**
 * Helpers of `RemoteLayer`: how big a request's events are, what its failures say, and the check
 * of the server at start.
 */
import { HttpClientError } from "@effect/platform"
import { Cause, type Duration, Effect } from "effect"
import * as Api from "../Api.js"
import { BackendError } from "../Errors.js"
import type * as Event from "../Event.js"
import type { HttpApiClientFor } from "../RemoteLayer.js"

/** An error's name (unless plain `Error`) and message. */
export const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error)

/**
 * About the encoded size of an event in a request body: exact for the large parts (a step's
 * input, output and error, a record's metadata), with room for the small fields.
 */
export const weigh = (event: Event.Event): number => {
  if (event._tag !== "StepWritten") return JSON.stringify(event._tag === "RunWritten" ? event.run : event.agent).length
  const step = event.step
  return 1_024 + step.name.length + JSON.stringify(step.input).length +
    (step.output === null ? 0 : JSON.stringify(step.output).length) +
    (step.error === null ? 0 : JSON.stringify(step.error).length)
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
