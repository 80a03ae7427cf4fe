/**
 * Admission control in front of the database: at most `maxPending` API requests are in the server
 * at once (served, or waiting in the database pool's queue); any request beyond is answered at
 * once `503` with `Retry-After`. The refusal is made on Node's HTTP server, before the request
 * reaches Effect's handler, where it costs a few microseconds instead of a request's whole
 * pipeline: under a flood the server keeps accepting connections, every one gets an answer, and
 * its memory holds only the admitted requests. `GET /api/health` and the pages, which read no
 * data, are not counted.
 */
import type * as Http from "node:http"
import * as Body from "./body.js"

/** How many seconds a refused client is told to wait, in `Retry-After` and in the body. */
export const retryAfterSeconds = 1

/** Requests that read or write the store: the API, but its health check. */
const isCounted = (request: Http.IncomingMessage): boolean => {
  const path = (request.url ?? "").split("?")[0]!
  return path.startsWith("/api/") && path !== "/api/health"
}

/** The answer's body: `Api.Unavailable`, as the API's clients decode it. */
const refusalBody = (maxPending: number) =>
  JSON.stringify({
    _tag: "Unavailable",
    message: `the server is busy: ${maxPending} requests are in progress or waiting for the database ` +
      `(--max-pending-requests); retry after ${retryAfterSeconds} s`,
    retryAfter: retryAfterSeconds
  })

/**
 * Makes `server` refuse the API requests beyond `maxPending` in progress with `503`,
 * `Retry-After` and an `Unavailable` JSON body. The body of a refused request is read and thrown
 * away, so that its sender gets the answer. Call it before the server is handed to Effect's
 * `NodeHttpServer`: the check runs before any `request` listener.
 */
export const install = (server: Http.Server, maxPending: number): void => {
  const body = refusalBody(maxPending)
  const headers = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    "retry-after": String(retryAfterSeconds),
    "x-content-type-options": "nosniff"
  }
  let pending = 0
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: Array<any>) => boolean
  server.emit = (event: string | symbol, ...args: Array<any>): boolean => {
    if (event !== "request") return emit(event, ...args)
    const [request, response] = args as [Http.IncomingMessage, Http.ServerResponse]
    if (!isCounted(request)) return emit(event, ...args)
    if (pending >= maxPending) {
      if (!request.complete) Body.discard(request)
      response.writeHead(503, headers).end(body)
      return true
    }
    pending++
    response.once("close", () => pending--)
    return emit(event, ...args)
  }
}
