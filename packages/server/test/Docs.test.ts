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

  it.effect("/docs is an interactive page served inline, and / is the self-contained run viewer", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const docs = yield* Effect.promise(() => fetch(`${server.url}/docs`).then(async (r) => ({ status: r.status, text: await r.text() })))
      assert.strictEqual(docs.status, 200)
      assert.include(docs.text, "openapi")
      assert.notMatch(docs.text, /<script[^>]+src=["']?https?:/)

      const viewer = yield* Effect.promise(() => fetch(`${server.url}/`).then(async (r) => ({ type: r.headers.get("content-type"), text: await r.text() })))
      assert.include(viewer.type ?? "", "text/html")
      assert.notMatch(viewer.text, /<script[^>]+src=/)
      assert.notMatch(viewer.text, /<link[^>]+href=["']?https?:/)
      assert.include(viewer.text, "localStorage")
      const script = viewer.text.slice(viewer.text.indexOf("<script>") + 8, viewer.text.indexOf("</script>"))
      assert.doesNotThrow(() => new Function(script), "the inline script parses")
      for (const path of ["\"/api\"", "\"/runs", "/agents", "/steps", "replayed", "tokensUsed", "costUsd", "latencyMs"]) {
        assert.include(script, path)
      }
    }))
})
