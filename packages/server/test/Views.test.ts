/**
 * The viewer's reads over HTTP on a real server: runs searched by name or tag and paged by
 * cursor (stalled runs among them, judged by the server), a run's steps paged by seq (read from
 * the step table's own input and output columns), step summaries without input and output, the
 * marks of nested and drifted steps in both, steps filtered and runs found by id (a bad filter
 * is 400), 404 for another project's run.
 */
import { assert, layer } from "@effect/vitest"
import { Api, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { describePg, runRecord } from "@multirun/core/test-utils"
import { Clock, Effect, type Layer } from "effect"
import { shortId } from "../src/internal/format.js"
import { recordMarksRun } from "./fixtures/marksDatabase.js"
import { layerPg, layerSqlite, memoryRemote, request, TestServer } from "./TestServer.js"

const suite = (label: string, server: Layer.Layer<TestServer, unknown>) =>
  layer(server, { excludeTestServices: true })(`viewer reads on ${label}: search, cursors, step pages, timeline`, (it) => {
    it.effect("search and cursor pages runs newest first; steps and timeline page by seq", () =>
      Effect.gen(function*() {
        const { keyFor, url } = yield* TestServer
        const key = yield* keyFor("views")
        const other = yield* keyFor("views-other")
        const record = (name: string, tags: Array<string>, steps: number) =>
          Effect.gen(function*() {
            for (let i = 0; i < steps; i++) {
              yield* Effect.succeed({ n: i }).pipe(
                step("work", {
                  kind: "llm_call",
                  input: { i, text: "x".repeat(50) },
                  usage: () => ({ inputTokens: 10 + i, outputTokens: 5, cachedInputTokens: 2, model: "m-1", costUsd: i === 0 ? null : 0.001 })
                })
              )
            }
          }).pipe(withRun({ name, tags }))
        yield* Effect.gen(function*() {
          for (let i = 0; i < 5; i++) yield* record(`nightly-eval-${i}`, i % 2 === 0 ? ["even"] : [], i === 4 ? 25 : 1)
          yield* record("Ad Hoc_run", ["manual"], 1)
        }).pipe(Effect.provide(memoryRemote({ url, apiKey: key })))
        const get = (path: string, k = key) => Effect.promise(() => request(url, { path, key: k }))

        const searched = yield* get("/api/runs?search=EVAL")
        assert.strictEqual(searched.status, 200)
        assert.deepStrictEqual(searched.body.map((r: any) => r.name), [4, 3, 2, 1, 0].map((i) => `nightly-eval-${i}`))
        assert.deepStrictEqual((yield* get("/api/runs?search=manual")).body.map((r: any) => r.name), ["Ad Hoc_run"])
        assert.deepStrictEqual((yield* get("/api/runs?search=c_r")).body.map((r: any) => r.name), ["Ad Hoc_run"])
        assert.deepStrictEqual((yield* get("/api/runs?search=%25")).body, [])

        // cursor paging: 2 + 2 + 2 covers the 6 runs once each, newest first
        const seen: Array<string> = []
        let cursor: string | undefined
        for (let page = 0; page < 4; page++) {
          const answer = yield* get(`/api/runs?limit=2${cursor === undefined ? "&search=" : `&cursor=${encodeURIComponent(cursor)}`}`)
          if (answer.body.length === 0) break
          seen.push(...answer.body.map((r: any) => r.name))
          cursor = Api.runsCursor(answer.body.at(-1))
        }
        const all = (yield* get("/api/runs")).body.map((r: any) => r.name)
        assert.deepStrictEqual(seen, all)
        assert.strictEqual(seen.length, 6)

        const big = (yield* get("/api/runs?name=nightly-eval-4")).body[0]
        const page1 = (yield* get(`/api/runs/${big.id}/steps/page?limit=10`)).body
        const page2 = (yield* get(`/api/runs/${big.id}/steps/page?afterSeq=${page1.at(-1).seq}&limit=10`)).body
        const page3 = (yield* get(`/api/runs/${big.id}/steps/page?afterSeq=${page2.at(-1).seq}&limit=10`)).body
        assert.deepStrictEqual([...page1, ...page2, ...page3].map((s: any) => s.seq), Array.from({ length: 25 }, (_, i) => i))
        // a page holds the same records as the whole list (input and output from their columns)
        const whole = (yield* get(`/api/runs/${big.id}/steps`)).body
        assert.deepStrictEqual([...page1, ...page2, ...page3], whole)
        assert.include(page1[0].input, "xxxxx")
        assert.strictEqual(page1[0].output, JSON.stringify({ n: 0 }))
        assert.strictEqual(page1[0].runId, big.id)
        // the usage model: the token split, the model, and a cost that is unknown (null)
        assert.deepStrictEqual(
          [page1[0].inputTokens, page1[0].outputTokens, page1[0].cachedInputTokens, page1[0].model, page1[0].costUsd],
          [10, 5, 2, "m-1", null]
        )
        assert.strictEqual(page1[1].costUsd, 0.001)

        const timeline = (yield* get(`/api/runs/${big.id}/timeline?afterSeq=19`)).body
        assert.deepStrictEqual(timeline.map((s: any) => s.seq), [20, 21, 22, 23, 24])
        assert.isFalse("input" in timeline[0])
        assert.isFalse("output" in timeline[0])
        const { input: _input, output: _output, ...summary } = whole[20]
        assert.deepStrictEqual(timeline[0], summary)

        const foreign = yield* get(`/api/runs/${big.id}/timeline`, other)
        assert.strictEqual(foreign.status, 404)
        assert.strictEqual((yield* get(`/api/runs/${big.id}/steps/page`, other)).status, 404)
        assert.strictEqual((yield* get(`/api/runs?search=eval`, other)).body.length, 0)
        assert.strictEqual((yield* get(`/api/runs/${big.id}/timeline?limit=0`)).status, 400)
      }), { timeout: 120_000 })

    it.effect("step pages and the timeline carry a step's parent and drift mark, and the run its drift count", () =>
      Effect.gen(function*() {
        const { keyFor, url } = yield* TestServer
        const key = yield* keyFor("views-marks")
        const runId = yield* Effect.provide(recordMarksRun, memoryRemote({ url, apiKey: key }))
        const get = (path: string) => Effect.map(Effect.promise(() => request(url, { path, key })), (a) => a.body)
        const [run, steps, timeline] = yield* Effect.all([
          get(`/api/runs/${runId}`),
          get(`/api/runs/${runId}/steps/page`),
          get(`/api/runs/${runId}/timeline`)
        ])
        assert.strictEqual(run.drifts, 1)
        for (const records of [steps, timeline]) {
          const named = (name: string) => records.find((s: any) => s.name === name)
          assert.strictEqual(named("fetch").parentId, named("outline").id)
          assert.deepStrictEqual(records.filter((s: any) => s.drift != null).map((s: any) => [s.name, s.drift]), [["ask", "input.temperature"]])
          assert.deepStrictEqual(named("publish").error.data, { retryAfterMs: 30_000 })
        }
      }), { timeout: 120_000 })

    it.effect("a run's steps filtered by the URL, runs found by full and short id, a bad filter refused naming it", () =>
      Effect.gen(function*() {
        const { keyFor, url } = yield* TestServer
        const key = yield* keyFor("views-find")
        const runId = yield* Effect.provide(recordMarksRun, memoryRemote({ url, apiKey: key }))
        const get = (path: string) => Effect.promise(() => request(url, { path, key }))
        const names = (path: string) => Effect.map(get(path), (a) => a.body.map((s: any) => s.name))
        const all: Array<any> = (yield* get(`/api/runs/${runId}/steps/page`)).body
        assert.deepStrictEqual(yield* names(`/api/runs/${runId}/timeline?status=drifted`), ["ask"])
        const published = all.filter((s) => s.name === "publish").map((s) => s.seq)
        assert.isAbove(published.length, 0)
        assert.deepStrictEqual(
          (yield* get(`/api/runs/${runId}/steps/page?name=PUBL&kind=tool_call`)).body.map((s: any) => s.seq),
          published
        )
        // text in the input, output or error, in any case
        const holding = all.filter((s) => [s.input, s.output, JSON.stringify(s.error)].join().includes("example.org/marks"))
        assert.include(holding.map((s) => s.name), "fetch")
        assert.isBelow(holding.length, all.length)
        assert.deepStrictEqual(yield* names(`/api/runs/${runId}/timeline?text=EXAMPLE.org%2Fmarks`), holding.map((s) => s.name))
        const bad = yield* get(`/api/runs/${runId}/timeline?status=lost`)
        assert.strictEqual(bad.status, 400)
        assert.include(JSON.stringify(bad.body), "status must be one of running, completed, failed, interrupted, replayed, drifted")
        const empty = yield* get(`/api/runs/${runId}/steps/page?text=`)
        assert.strictEqual(empty.status, 400)
        assert.include(JSON.stringify(empty.body), "text must be 1 to 200 characters")
        assert.deepStrictEqual((yield* get(`/api/runs?search=${runId}`)).body.map((r: any) => r.id), [runId])
        assert.deepStrictEqual((yield* get(`/api/runs?search=${shortId(runId).toUpperCase()}`)).body.map((r: any) => r.id), [runId])
      }), { timeout: 120_000 })

    it.effect("search and cursor pages read stalled runs with their owner's last sighting, and filter them", () =>
      Effect.gen(function*() {
        const { keyFor, url } = yield* TestServer
        const key = yield* keyFor("views-stalled")
        const now = yield* Clock.currentTimeMillis
        const lastSeenAt = yield* Effect.gen(function*() {
          const client = yield* MultiRunClient
          for (const [i, name] of ["batch-dead", "batch-live", "batch-old"].entries()) {
            yield* client.writeRun(runRecord(name, { name, startedAt: now - (3 - i) * 60_000 }))
          }
          yield* client.flush
          // leases are stamped on the server's clock: a short one, left to expire
          const gone = yield* client.acquireLease({ runId: "batch-dead", owner: "gone", ttlMs: 100 })
          yield* client.acquireLease({ runId: "batch-live", owner: "alive", ttlMs: 600_000 })
          yield* Effect.sleep("150 millis")
          return gone.acquiredAt
        }).pipe(Effect.provide(memoryRemote({ url, apiKey: key })))
        const get = (path: string) => Effect.map(Effect.promise(() => request(url, { path, key })), (a) => a.body)
        const searched = yield* get("/api/runs?search=batch")
        assert.deepStrictEqual(searched.map((r: any) => [r.name, r.status, r.stalled ?? null]), [
          ["batch-old", "running", null],
          ["batch-live", "running", null],
          ["batch-dead", "running", { owner: "gone", lastSeenAt }]
        ])
        const after = Api.runsCursor(searched[0])
        assert.deepStrictEqual((yield* get(`/api/runs?status=stalled&cursor=${after}`)).map((r: any) => r.name), ["batch-dead"])
        assert.deepStrictEqual(
          (yield* get(`/api/runs?status=running&search=BATCH`)).map((r: any) => r.name),
          ["batch-old", "batch-live"]
        )
        assert.deepStrictEqual((yield* get(`/api/runs?status=stalled`)).map((r: any) => r.name), ["batch-dead"])
      }), { timeout: 120_000 })
  })

suite("SQLite", layerSqlite())
describePg("PostgreSQL", () => suite("PostgreSQL", layerPg()))
