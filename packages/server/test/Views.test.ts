/**
 * The viewer's reads over HTTP on a real server: runs searched by name or tag and paged by
 * cursor, a run's steps paged by seq, step summaries without input and output, 404 for another
 * project's run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Api, RemoteLayer, step, withRun } from "@multirun/core"
import { Effect } from "effect"
import type * as Database from "../src/Database.js"
import { describePg, pgDatabase, request, serverForFile, sqliteDatabase } from "./utils.js"

const suite = (label: string, database: () => Database.Options) => describe(`viewer reads on ${label}: search, cursors, step pages, timeline`, () => {
  const server = serverForFile(database())

  it.live("search and cursor pages runs newest first; steps and timeline page by seq", () =>
    Effect.gen(function*() {
      const key = yield* server().keyFor("views")
      const other = yield* server().keyFor("views-other")
      const record = (name: string, tags: Array<string>, steps: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < steps; i++) {
            yield* Effect.succeed({ n: i }).pipe(step("work", { kind: "tool_call", input: { i, text: "x".repeat(50) } }))
          }
        }).pipe(withRun({ name, tags }))
      yield* Effect.gen(function*() {
        for (let i = 0; i < 5; i++) yield* record(`nightly-eval-${i}`, i % 2 === 0 ? ["even"] : [], i === 4 ? 25 : 1)
        yield* record("Ad Hoc_run", ["manual"], 1)
      }).pipe(Effect.provide(RemoteLayer({ url: server().url, apiKey: key })))
      const get = (path: string, k = key) => Effect.promise(() => request(server().url, { path, key: k }))

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
        const last = answer.body.at(-1)
        cursor = Api.runsCursor(last)
      }
      const all = (yield* get("/api/runs")).body.map((r: any) => r.name)
      assert.deepStrictEqual(seen, all)
      assert.strictEqual(seen.length, 6)

      const big = (yield* get("/api/runs?name=nightly-eval-4")).body[0]
      const page1 = (yield* get(`/api/runs/${big.id}/steps/page?limit=10`)).body
      const page2 = (yield* get(`/api/runs/${big.id}/steps/page?afterSeq=${page1.at(-1).seq}&limit=10`)).body
      const page3 = (yield* get(`/api/runs/${big.id}/steps/page?afterSeq=${page2.at(-1).seq}&limit=10`)).body
      assert.deepStrictEqual([...page1, ...page2, ...page3].map((s: any) => s.seq), Array.from({ length: 25 }, (_, i) => i))
      assert.include(page1[0].input, "xxxxx")
      const timeline = (yield* get(`/api/runs/${big.id}/timeline?afterSeq=19`)).body
      assert.deepStrictEqual(timeline.map((s: any) => s.seq), [20, 21, 22, 23, 24])
      assert.isFalse("input" in timeline[0])
      assert.isFalse("output" in timeline[0])
      assert.strictEqual(timeline[0].inputHash, (yield* get(`/api/runs/${big.id}/steps`)).body[20].inputHash)

      const foreign = yield* get(`/api/runs/${big.id}/timeline`, other)
      assert.strictEqual(foreign.status, 404)
      assert.strictEqual((yield* get(`/api/runs/${big.id}/steps/page`, other)).status, 404)
      assert.strictEqual((yield* get(`/api/runs?search=eval`, other)).body.length, 0)
      assert.strictEqual((yield* get(`/api/runs/${big.id}/timeline?limit=0`)).status, 400)
    }), { timeout: 120_000 })
})

suite("SQLite", sqliteDatabase)
describePg("PostgreSQL", () => suite("PostgreSQL", pgDatabase))
