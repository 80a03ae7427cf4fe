/**
 * The interactive API reference at `/docs`: Scalar (the copy bundled with `@effect/platform`),
 * served as a file of this origin instead of inline, so the page runs under a
 * Content-Security-Policy without inline script. The OpenAPI document and Scalar's settings
 * travel in a JSON data block, which the browser never executes.
 *
 * @since 0.2.0
 */
import { HttpApiBuilder, HttpServerResponse, OpenApi } from "@effect/platform"
import { Api } from "@multirun/core"
import { Effect, type Layer } from "effect"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { pageHeaders } from "./internal/pageHeaders.js"

/**
 * The Content-Security-Policy of the docs page and its script. Scripts come from this origin
 * alone; Scalar compiles a WebAssembly module (`'wasm-unsafe-eval'` allows that and no `eval` of
 * script) and sets styles at run time (`'unsafe-inline'` for styles only).
 *
 * @since 0.2.0
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'"
].join("; ")

const headers = pageHeaders(contentSecurityPolicy)

/** Where the page loads Scalar from. */
const scriptPath = "/docs/scalar.js"

/**
 * Scalar's standalone script as `@effect/platform` ships it (the module its `HttpApiScalar`
 * inlines, which the package does not export: loaded from its file).
 */
const loadScalar = Effect.tryPromise({
  try: async () => {
    const manifest = createRequire(import.meta.url).resolve("@effect/platform/package.json")
    const file = path.join(path.dirname(manifest), "dist", "esm", "internal", "httpApiScalar.js")
    const module = await import(pathToFileURL(file).href) as { readonly javascript?: unknown }
    if (typeof module.javascript !== "string") throw new Error(`${file} has no Scalar script`)
    return module.javascript
  },
  catch: (cause) => cause instanceof Error ? cause.message : String(cause)
})

/** `<`, `>` and `&` escaped so the JSON cannot end its script element. */
const scriptSafeJson = (value: unknown) =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")

const attribute = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** Scalar's settings, read from the data block's `data-configuration` attribute. */
const configuration = JSON.stringify({ _integration: "html", withDefaultFonts: false })

/** When Scalar cannot be loaded: a pointer to the document itself. */
const withoutScalar = `<p>The interactive reference is not available here; the OpenAPI document is at ` +
  `<a href="/openapi.json">/openapi.json</a>.</p>`

/** The page: the document in a JSON data block (never executed), then Scalar from this origin. */
const page = (spec: OpenApi.OpenAPISpec, hasScalar: boolean) =>
  [
    `<!doctype html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${attribute(spec.info.title)}</title>`,
    `<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">`,
    `</head>`,
    `<body>`,
    `<script id="api-reference" type="application/json" data-configuration="${attribute(configuration)}">` +
    `${scriptSafeJson(spec)}</script>`,
    hasScalar ? `<script src="${scriptPath}"></script>` : withoutScalar,
    `</body>`,
    `</html>`
  ].join("\n")

const respond = (body: string, contentType: string) => Effect.succeed(HttpServerResponse.text(body, { contentType, headers }))

/**
 * Serves `/docs` and its script.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<never> = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const scalar = yield* Effect.either(loadScalar)
    if (scalar._tag === "Left") yield* Effect.logWarning(`multirun: the API docs page has no Scalar: ${scalar.left}`)
    yield* router.get("/docs", respond(page(OpenApi.fromApi(Api.Api), scalar._tag === "Right"), "text/html; charset=utf-8"))
    if (scalar._tag === "Right") yield* router.get(scriptPath, respond(scalar.right, "text/javascript; charset=utf-8"))
  })
)
