/**
 * The run viewer: a page written in TypeScript (Preact) under `viewer/` of this package,
 * bundled by esbuild into static files and served at `/` (and `/runs/:runId`, `/compare`) under
 * a strict Content-Security-Policy: everything from this origin, no inline script, nothing from a
 * CDN.
 * The page reads the HTTP API with the key the user enters (kept in `sessionStorage`, so it
 * goes with the tab, unless the user chose to remember it on this browser), or with no key at
 * all when served by `multirun ui`. Pages: `/` (runs), `/runs/:runId`, `/usage`.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, type Layer } from "effect"
import { pageHeaders } from "./internal/pageHeaders.js"
import * as Bundle from "./internal/viewerBundle.js"

/**
 * The Content-Security-Policy sent with every viewer file.
 *
 * @since 0.2.0
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'"
].join("; ")

/**
 * How the page behaves: `server` asks for an API key; `local` (`multirun ui`) needs none and
 * shows the file it reads.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly mode: "server" | "local"
  readonly source?: string | undefined
}

const headers = pageHeaders(contentSecurityPolicy)

const respond = (body: string, contentType: string, status = 200) =>
  HttpServerResponse.text(body, { contentType, status, headers })

/** The bundle: as shipped in an installed package, or from the sources in a checkout. */
const loadAssets = Effect.try({
  try: () => Bundle.packageRoot(),
  catch: (cause) => new Bundle.ViewerNotBuilt({ reason: String(cause), hint: "Reinstall @multirun/server." })
}).pipe(Effect.flatMap(Bundle.load))

const escape = (text: string) => text.replace(/[&<>]/g, "")

const notBuilt = (error: Bundle.ViewerNotBuilt) =>
  `<!doctype html><meta charset="utf-8"><title>multirun</title><h1>The run viewer is not built</h1>` +
  `<p>${escape(error.reason)}</p><p>${escape(error.hint)}</p>`

/**
 * Serves the viewer with the given options.
 *
 * @since 0.2.0
 */
export const layerWith = (options: Options): Layer.Layer<never> =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function*() {
      const loaded = yield* Effect.either(loadAssets)
      if (loaded._tag === "Left") {
        yield* Effect.logWarning(`multirun: the run viewer is not available: ${loaded.left.message}`)
        const page = Effect.succeed(respond(notBuilt(loaded.left), "text/html; charset=utf-8", 500))
        yield* router.get("/", page)
        return
      }
      const assets = loaded.right
      const page = Effect.succeed(respond(assets.html, "text/html; charset=utf-8"))
      const config = JSON.stringify({ mode: options.mode, source: options.source ?? null })
      yield* router.get("/", page)
      yield* router.get("/runs/:runId", page)
      yield* router.get("/compare", page)
      yield* router.get("/usage", page)
      yield* router.get("/assets/viewer.js", Effect.succeed(respond(assets.js, "text/javascript; charset=utf-8")))
      yield* router.get("/assets/viewer.css", Effect.succeed(respond(assets.css, "text/css; charset=utf-8")))
      yield* router.get("/assets/favicon.svg", Effect.succeed(respond(assets.favicon, "image/svg+xml")))
      yield* router.get("/assets/config.json", Effect.succeed(respond(config, "application/json")))
    })
  )

/**
 * The viewer of `multirun serve`: asks for an API key.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = layerWith({ mode: "server" })
