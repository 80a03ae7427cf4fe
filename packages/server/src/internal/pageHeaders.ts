/**
 * The headers of every page and page asset the server sends (the run viewer, the API docs), and
 * the one every response sends.
 */
import { HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

/**
 * A page's security headers under `contentSecurityPolicy`: no MIME sniffing, no referrer sent
 * to other sites, revalidated on each load.
 */
export const pageHeaders = (contentSecurityPolicy: string): Record<string, string> => ({
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
})

const noSniffHeader = (_request: unknown, response: HttpServerResponse.HttpServerResponse) =>
  Effect.succeed(HttpServerResponse.setHeader(response, "x-content-type-options", "nosniff"))

/**
 * Wraps the server's app (and the `inner` middlewares, outermost first, such as the request log
 * and the `Host` check) so that every response, API answers and errors included, forbids MIME
 * sniffing: a browser never runs a JSON body as a page.
 */
export const serveMiddleware =
  (...inner: ReadonlyArray<(app: HttpApp.Default) => HttpApp.Default>) => (app: HttpApp.Default): HttpApp.Default =>
    Effect.zipRight(HttpApp.appendPreResponseHandler(noSniffHeader), inner.reduceRight((wrapped, wrap) => wrap(wrapped), app))
