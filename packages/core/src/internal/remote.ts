/** Helpers of `RemoteLayer`: how big a request's events are, and what its failures say. */
import { HttpClientError } from "@effect/platform"
import { Cause } from "effect"
import type * as Event from "../Event.js"

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

/** A 413 answer: the body was larger than the server accepts. */
export const isTooLarge = (error: unknown): boolean =>
  HttpClientError.isHttpClientError(error) && error._tag === "ResponseError" && error.response.status === 413

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
