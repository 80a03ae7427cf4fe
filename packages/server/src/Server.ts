/**
 * The multirun server: `Api.Api` implemented over the store, with `/openapi.json`, the
 * interactive docs at `/docs`, the run viewer at `/`, request limits, served by Node's HTTP server.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { ServeError } from "@effect/platform/HttpServerError"
import { Api } from "@multirun/core"
import type { StoreError } from "@multirun/sql/StoreError"
import { Context, Duration, Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import * as Authorization from "./Authorization.js"
import * as Database from "./Database.js"
import * as Docs from "./Docs.js"
import * as Handlers from "./Handlers.js"
import * as Limits from "./Limits.js"
import * as RequestLog from "./RequestLog.js"
import * as RetentionJob from "./RetentionJob.js"
import * as Store from "./Store.js"
import * as Viewer from "./Viewer.js"
import * as Views from "./Views.js"
import * as Admission from "./internal/admission.js"
import * as ClientErrors from "./internal/clientErrors.js"
import * as HostCheck from "./internal/hostCheck.js"
import { serveMiddleware } from "./internal/pageHeaders.js"

/**
 * The server's version, reported by `GET /api/health`.
 *
 * @since 0.1.0
 */
export const version = "0.2.0"

/**
 * The port used when none is given.
 *
 * @since 0.1.0
 */
export const defaultPort = 7420

/**
 * How to serve.
 *
 * - `database`: a SQLite file (default {@link Database.defaultFilename}) or a PostgreSQL URL.
 * - `port`: default 7420; `0` picks a free port (read it back from {@link serve}).
 * - `host`: the interface to listen on (default `127.0.0.1`; `0.0.0.0` for every interface).
 * - `maxBodyBytes`: request body limit (default 5 MiB); larger bodies answer 413.
 * - `logRequests`: print one line per request (method, path, status, ms); default off.
 * - `retention`: a policy applied to every project (or per project) at start and on a schedule
 *   (see {@link RetentionJob.Options}); default: everything is kept.
 * - `allowedHosts`: the `Host` values answered (`name` at any port, or `name:port`); any other
 *   is answered 421, pages and API alike. Default (undefined or empty): every `Host`, since
 *   every API request needs a key.
 * - `maxPendingRequests`: API requests in progress at once, served or waiting for a database
 *   connection (default {@link defaultMaxPendingRequests}); any beyond is answered at once `503`
 *   with `Retry-After`, so a flood neither grows the server's memory nor leaves a connection
 *   without an answer. `GET /api/health` and the pages are not counted.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly database?: Database.Options | undefined
  readonly port?: number | undefined
  readonly host?: string | undefined
  readonly maxBodyBytes?: number | undefined
  readonly logRequests?: boolean | undefined
  readonly retention?: RetentionJob.Options | undefined
  readonly allowedHosts?: ReadonlyArray<string> | undefined
  readonly maxPendingRequests?: number | undefined
}

/**
 * API requests in progress at once when not configured: 100, ten for each connection of the
 * PostgreSQL pool.
 *
 * @since 0.2.0
 */
export const defaultMaxPendingRequests = 100

/**
 * The HTTP application over a {@link Store.Store}, to be served by an `HttpServer`.
 *
 * @since 0.1.0
 */
export const layerApp = (options: Pick<Options, "maxBodyBytes" | "logRequests" | "allowedHosts"> = {}) => {
  const api = HttpApiBuilder.api(Api.Api).pipe(
    Layer.provide(Handlers.layer(version)),
    Layer.provide(Authorization.layer)
  )
  const middlewares = [
    ...(options.logRequests === true ? [RequestLog.middleware] : []),
    ...(options.allowedHosts !== undefined && options.allowedHosts.length > 0
      ? [HostCheck.middleware({ _tag: "AllowList", hosts: options.allowedHosts })]
      : [])
  ]
  return HttpApiBuilder.serve(serveMiddleware(...middlewares)).pipe(
    Layer.provide(Docs.layer),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(Viewer.layer),
    Layer.provide(Limits.layer(options.maxBodyBytes)),
    Layer.provide(api),
    // a path parameter as long as the longest stored id, so every stored id can be served back
    Layer.provide(HttpRouter.setRouterConfig({ maxParamLength: Api.maxIdLength }))
  )
}

/**
 * Connections the kernel may hold until the server accepts them (Node's default is 511; the
 * system's `somaxconn` caps it): under a burst, a connection waits to be accepted and answered
 * instead of timing out unanswered.
 */
const listenBacklog = 4096

/**
 * On close: stops accepting connections, lets the requests in flight finish (closing each
 * keep-alive connection as soon as it is idle), and after `timeout` cuts what is left.
 */
const drainOnClose = (server: Http.Server, timeout: Duration.DurationInput) =>
  Effect.addFinalizer(() =>
    Effect.async<void>((resume) => {
      if (!server.listening) return resume(Effect.void)
      const idle = setInterval(() => server.closeIdleConnections(), 25)
      const cut = setTimeout(() => server.closeAllConnections(), Duration.toMillis(timeout))
      server.close(() => {
        clearInterval(idle)
        clearTimeout(cut)
        resume(Effect.void)
      })
      server.closeIdleConnections()
    })
  )

/**
 * The whole server: database, store and HTTP server, which answers `503` with `Retry-After` to
 * the API requests beyond `maxPendingRequests`. Closing the layer stops accepting
 * connections, lets the requests in flight finish (up to 30 s), then closes the database.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<HttpServer.HttpServer, ServeError | StoreError> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = Http.createServer()
    ClientErrors.answerWithJson(server)
    Admission.install(server, options.maxPendingRequests ?? defaultMaxPendingRequests)
    return Layer.scopedDiscard(drainOnClose(server, "30 seconds")).pipe(
      Layer.provideMerge(layerApp(options)),
      Layer.provideMerge(
        NodeHttpServer.layer(() => server, {
          port: options.port ?? defaultPort,
          host: options.host ?? "127.0.0.1",
          backlog: listenBacklog
        })
      ),
      Layer.provide(Layer.mergeAll(
        Store.layer,
        Views.layerQueries,
        options.retention === undefined ? Layer.empty : RetentionJob.layer(options.retention)
      )),
      Layer.provide(Database.layer(options.database ?? { filename: Database.defaultFilename }))
    )
  }))

/**
 * Where a started server listens.
 *
 * @since 0.1.0
 */
export interface Address {
  readonly port: number
  readonly url: string
}

/**
 * Starts the server in the current scope and returns the bound address (useful with `port: 0`).
 *
 * @since 0.1.0
 */
export const serve = (options: Options = {}): Effect.Effect<Address, ServeError | StoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(layer(options))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const host = options.host === undefined || options.host === "0.0.0.0" ? "127.0.0.1" : options.host
    return { port, url: `http://${host}:${port}` }
  })
