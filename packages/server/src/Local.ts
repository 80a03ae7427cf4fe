/**
 * `multirun ui`: the run viewer and the read half of the HTTP API over a local SQLite file,
 * opened read-only, with no API key, on 127.0.0.1 only. It answers only requests whose `Host`
 * names loopback (`127.0.0.1`, `localhost`, `[::1]`) at its port, others 421: a page of another
 * site cannot read the runs through DNS rebinding. A program on `Sqlite.layer` plus this command
 * are all a single developer needs.
 *
 * @since 0.2.0
 */
import { HttpApiBuilder, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import type { ServeError } from "@effect/platform/HttpServerError"
import { Api } from "@multirun/core"
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as Http from "node:http"
import * as path from "node:path"
import * as Docs from "./Docs.js"
import * as Handlers from "./Handlers.js"
import * as Limits from "./Limits.js"
import * as RequestLog from "./RequestLog.js"
import * as RunSource from "./RunSource.js"
import * as Server from "./Server.js"
import * as Store from "./Store.js"
import * as Viewer from "./Viewer.js"
import * as Views from "./Views.js"
import * as ClientErrors from "./internal/clientErrors.js"
import * as HostCheck from "./internal/hostCheck.js"
import { serveMiddleware } from "./internal/pageHeaders.js"

/**
 * The port `multirun ui` uses when none is given.
 *
 * @since 0.2.0
 */
export const defaultPort = 7421

/**
 * What to serve: the SQLite file, the project in it (default `"default"`, where `Sqlite.layer`
 * writes), the port (`0` picks a free one) and whether to log each request.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly filename: string
  readonly project?: string | undefined
  readonly port?: number | undefined
  readonly logRequests?: boolean | undefined
}

/** Every request reads the one project; no key is asked. */
const localAuthorization = (project: string) =>
  Layer.succeed(Api.Authorization, Api.Authorization.of({ bearer: () => Effect.succeed(project) }))

/** Anything but GET and HEAD answers 405: the file is only read. */
const readOnly = HttpApiBuilder.middleware((app) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    request.method === "GET" || request.method === "HEAD"
      ? app
      : Effect.succeed(HttpServerResponse.unsafeJson(
        { _tag: "ReadOnly", message: "multirun ui is read-only: it only shows the runs of a local file" },
        { status: 405 }
      ))))

/**
 * The local viewer's server as a layer.
 *
 * @since 0.2.0
 */
export const layer = (options: Options): Layer.Layer<HttpServer.HttpServer, ServeError | RunSource.SourceError> =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = Http.createServer()
    ClientErrors.answerWithJson(server)
    const api = HttpApiBuilder.api(Api.Api).pipe(
      Layer.provide(Handlers.layer(Server.version)),
      Layer.provide(localAuthorization(options.project ?? "default"))
    )
    const middlewares = [
      ...(options.logRequests === true ? [RequestLog.middleware] : []),
      HostCheck.middleware({ _tag: "Loopback" })
    ]
    const app = HttpApiBuilder.serve(serveMiddleware(...middlewares)).pipe(
      Layer.provide(Docs.layer),
      Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
      Layer.provide(Viewer.layerWith({ mode: "local", source: path.resolve(options.filename) })),
      Layer.provide(readOnly),
      Layer.provide(Limits.layer()),
      Layer.provide(api)
    )
    const cut = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections())))
    return cut.pipe(
      Layer.provideMerge(app),
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port ?? defaultPort, host: "127.0.0.1" })),
      Layer.provide(Layer.merge(Store.layer, Views.layerQueries)),
      Layer.provide(RunSource.sqliteReadOnly(options.filename))
    )
  }))

/**
 * Starts the local viewer in the current scope; returns its URL.
 *
 * @since 0.2.0
 */
export const serve = (
  options: Options
): Effect.Effect<{ readonly port: number; readonly url: string }, ServeError | RunSource.SourceError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(layer(options))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return { port, url: `http://127.0.0.1:${port}` }
  })
