import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { layerSqlite, request, TestServer } from "./TestServer.js"

layer(layerSqlite(), { excludeTestServices: true })("OpenAPI, docs and viewer", (it) => {

  it.effect("/openapi.json describes every endpoint, the bearer scheme and the error statuses", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const spec = (yield* Effect.promise(() => request(server.url, { path: "/openapi.json" }))).body
      assert.strictEqual(spec.openapi, "3.1.0")
      assert.strictEqual(spec.info.title, "multirun")
      assert.includeMembers(Object.keys(spec.paths), [
        "/api/health",
        "/api/runs",
        "/api/runs/{runId}",
        "/api/runs/{runId}/agents",
        "/api/runs/{runId}/steps",
        "/api/runs/{runId}/steps/page",
        "/api/runs/{runId}/timeline",
        "/api/runs/{runId}/checkpoints",
        "/api/runs/{runId}/checkpoints/latest",
        "/api/checkpoints",
        "/api/checkpoints/{checkpointId}",
        "/api/checkpoints/{from}/diff/{to}",
        "/api/ingest"
      ])
      const schemes = Object.values(spec.components.securitySchemes) as Array<{ type: string; scheme: string }>
      assert.deepStrictEqual(schemes.map((s) => [s.type, s.scheme]), [["http", "bearer"]])
      const getRun = spec.paths["/api/runs/{runId}"].get
      assert.includeMembers(Object.keys(getRun.responses), ["200", "400", "401", "404", "413", "500", "503"])
      assert.isAbove(getRun.security.length, 0)
      assert.deepStrictEqual(spec.paths["/api/health"].get.security, [])
      assert.includeMembers(Object.keys(spec.paths["/api/checkpoints"].post.responses), ["201", "409"])
    }))

  it.effect("/docs is an interactive page served inline, and / is the bundled run viewer under a strict CSP", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const docs = yield* Effect.promise(() => fetch(`${server.url}/docs`).then(async (r) => ({ status: r.status, text: await r.text() })))
      assert.strictEqual(docs.status, 200)
      assert.include(docs.text, "openapi")
      assert.notMatch(docs.text, /<script[^>]+src=["']?https?:/)

      const get = (path: string) =>
        Effect.promise(() =>
          fetch(`${server.url}${path}`).then(async (r) => ({
            status: r.status,
            type: r.headers.get("content-type") ?? "",
            csp: r.headers.get("content-security-policy") ?? "",
            text: await r.text()
          }))
        )
      const viewer = yield* get("/")
      assert.strictEqual(viewer.status, 200)
      assert.include(viewer.type, "text/html")
      assert.include(viewer.csp, "default-src 'self'")
      assert.include(viewer.csp, "script-src 'self'")
      assert.notInclude(viewer.csp, "unsafe-inline")
      // no inline script: the page loads one module from this origin and nothing from elsewhere
      assert.notMatch(viewer.text, /<script(?![^>]*\bsrc=)[^>]*>/)
      assert.match(viewer.text, /<script type="module" src="\/assets\/viewer\.js"><\/script>/)
      assert.notMatch(viewer.text, /(src|href)=["']?https?:/)
      const script = yield* get("/assets/viewer.js")
      assert.strictEqual(script.status, 200)
      assert.include(script.type, "text/javascript")
      for (const path of ["/api", "/timeline", "/steps/page", "/checkpoints", "multirun.apiKey"]) {
        assert.include(script.text, path)
      }
      const style = yield* get("/assets/viewer.css")
      assert.strictEqual(style.status, 200)
      assert.include(style.type, "text/css")
      const runPage = yield* get("/runs/some-run")
      assert.strictEqual(runPage.text, viewer.text)
    }))

  it.effect("every page and page script sends a CSP without inline script, frame-ancestors 'none', nosniff and no-referrer", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const pages = ["/", "/runs/some-run", "/assets/viewer.js", "/assets/viewer.css", "/docs", "/docs/scalar.js"]
      for (const path of pages) {
        const answer = yield* Effect.promise(() => fetch(`${server.url}${path}`).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() })))
        assert.strictEqual(answer.status, 200, path)
        const csp = (answer.headers.get("content-security-policy") ?? "").split(";").map((d) => d.trim())
        assert.include(csp, "frame-ancestors 'none'", path)
        // scripts from this origin only (the docs may compile WebAssembly, which is no eval of script)
        assert.oneOf(csp.find((d) => d.startsWith("script-src")), ["script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"], path)
        assert.include(csp, "object-src 'none'", path)
        assert.include(csp, "base-uri 'none'", path)
        assert.strictEqual(answer.headers.get("x-content-type-options"), "nosniff", path)
        assert.strictEqual(answer.headers.get("referrer-policy"), "no-referrer", path)
      }
      // the docs page: no script element the browser would run but the one from this origin
      const docs = yield* Effect.promise(() => fetch(`${server.url}/docs`).then((r) => r.text()))
      const scripts = [...docs.matchAll(/<script([^>]*)>/g)].map((m) => m[1]!.trim())
      assert.deepStrictEqual(scripts.map((attributes) => attributes.replace(/ data-configuration="[^"]*"/, "")), [
        `id="api-reference" type="application/json"`,
        `src="/docs/scalar.js"`
      ])
    }))

  it.effect("every API answer sends nosniff: JSON, errors, unknown paths and the spec", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const answers = [
        ["/api/runs", `Bearer ${server.apiKey}`, 200],
        ["/api/runs", "Bearer wrong", 401],
        ["/api/runs/missing", `Bearer ${server.apiKey}`, 404],
        ["/api/nothing-here", `Bearer ${server.apiKey}`, 404],
        ["/openapi.json", "", 200]
      ] as const
      for (const [path, authorization, status] of answers) {
        const answer = yield* Effect.promise(() => fetch(`${server.url}${path}`, { headers: { authorization } }))
        yield* Effect.promise(() => answer.arrayBuffer())
        assert.strictEqual(answer.status, status, path)
        assert.strictEqual(answer.headers.get("x-content-type-options"), "nosniff", `${path} ${status}`)
      }
    }))
})
