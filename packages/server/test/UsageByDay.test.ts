/**
 * `multirun usage --by day` as a process over a month of spending (fixtures/spending.ts) in a
 * SQLite file (`--db`), a PostgreSQL schema (`--database-url`) and a server (`--url`/`--api-key`):
 * the table a person reads, and `--json` equal to what the viewer's usage page reads from
 * `GET /api/usage/days?until=${spendingDay}`.
 */
import { assert, describe, it } from "@effect/vitest"
import { describePg, pgSchema, pgUrl, tempDir } from "@multirun/core/test-utils"
import { PgLayer, SqliteLayer } from "@multirun/sql"
import { Effect } from "effect"
import * as path from "node:path"
import * as Local from "../src/Local.js"
import { bundleCli, runCli } from "./cliBundle.js"
import { recordSpending, spendingDay, spendingNow } from "./fixtures/spending.js"
import { sqliteDatabase, start } from "./TestServer.js"

const day = 86_400_000
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** The spending in a new SQLite file; the file, the run ids and the days of now. */
const sqliteSpending = Effect.gen(function*() {
  const dir = yield* tempDir("usage-days")
  const filename = path.join(dir, "runs.db")
  const now = spendingNow
  const runs = yield* Effect.provide(recordSpending(now), SqliteLayer({ filename }))
  return { dir, filename, runs, now }
})

/** The cells of the line of a table that starts with `first`. */
const row = (text: string, first: string) =>
  text.split("\n").find((line) => line.startsWith(`${first} `))?.trim().split(/\s{2,}/)

describe("multirun usage --by day", () => {
  it.live("--db: a table of the last 30 UTC days with the total, the most expensive runs and models; --json as the API", () =>
    Effect.gen(function*() {
      const { dir, filename, now, runs } = yield* sqliteSpending
      const bin = yield* bundleCli
      const text = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--db", filename])
      assert.strictEqual(text.code, 0, text.stderr)
      const out = text.stdout
      assert.include(out, `default: ${dayOf(now - 29 * day)} to ${dayOf(now)} (UTC days; a step counts on the day it started)`)
      assert.match(out, /^DAY\s+RUNS\s+STEPS\s+TOKENS\s+COST$/m)
      assert.deepStrictEqual(row(out, dayOf(now)), [dayOf(now), "3", "43", "650", "≥ $0.6000 (1 unpriced)"])
      assert.deepStrictEqual(row(out, dayOf(now - day)), [dayOf(now - day), "1", "1", "300", "$0.3000"])
      assert.deepStrictEqual(row(out, dayOf(now - 2 * day)), [dayOf(now - 2 * day), "0", "0", "0", "$0"])
      assert.deepStrictEqual(row(out, dayOf(now - 3 * day)), [dayOf(now - 3 * day), "1", "3", "3,000", "$3.60"])
      assert.notInclude(out, dayOf(now - 45 * day), "the old run is outside the 30 days")
      assert.deepStrictEqual(row(out, "total"), ["total", "4", "47", "3,950", "≥ $4.50 (1 unpriced)"])
      assert.include(out, "Most expensive runs")
      assert.deepStrictEqual(row(out, runs.nightly), [runs.nightly, "nightly", "3", "850", "≥ $0.8000 (1 unpriced)"])
      assert.deepStrictEqual(row(out, "mystery-1"), ["mystery-1", "1", "50", "unknown"])
      assert.strictEqual(out.split("\n").filter((line) => /^\d{4}-\d{2}-\d{2} /.test(line)).length, 30)

      const json = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--db", filename, "--json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const { url } = yield* Local.serve({ filename, port: 0 })
      const api = yield* Effect.promise(() => fetch(`${url}/api/usage/days?until=${spendingDay}`).then((r) => r.json()))
      assert.deepStrictEqual(JSON.parse(json.stdout), [api])
    }).pipe(Effect.scoped))

  it.live("--url with --api-key: the key's project, as the server's usage page shows it", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase
      const server = yield* start(database)
      const now = spendingNow
      yield* Effect.provide(recordSpending(now), SqliteLayer({ filename: (database as { filename: string }).filename, project: "dash" }))
      const key = yield* server.keyFor("dash")
      const dir = yield* tempDir("usage-days")
      const bin = yield* bundleCli
      const json = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--url", server.url, "--api-key", key, "--json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const [report] = JSON.parse(json.stdout)
      assert.strictEqual(report.project, "dash")
      assert.deepStrictEqual(report.total, { runs: 4, steps: 47, tokens: 3_950, costUsd: 4.5, unpricedSteps: 1 })
      const api = yield* Effect.promise(() =>
        fetch(`${server.url}/api/usage/days?until=${spendingDay}`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.json()))
      assert.deepStrictEqual(report, api)
      const text = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--url", server.url, "--api-key", key])
      assert.deepStrictEqual(row(text.stdout, "total"), ["total", "4", "47", "3,950", "≥ $4.50 (1 unpriced)"])
      // a wrong key: one line, exit 1
      const refused = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--url", server.url, "--api-key", "mr_nope"])
      assert.strictEqual(refused.code, 1)
      assert.match(refused.stderr.trim(), /^multirun: .*(API key|401)/)
    }).pipe(Effect.scoped))

  it.live("--by day with --prices is refused in one line; --by knows only day; --until needs a real day and --by day", () =>
    Effect.gen(function*() {
      const { dir, filename } = yield* sqliteSpending
      const bin = yield* bundleCli
      const both = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--prices", "p.json", "--db", filename])
      assert.strictEqual(both.code, 1)
      assert.strictEqual(both.stderr.trim(), "multirun: give either --by day or --prices, not both")
      const week = yield* runCli(bin, dir, ["usage", "--by", "week", "--db", filename])
      assert.notStrictEqual(week.code, 0)
      assert.include(week.stderr + week.stdout, "day")
      for (const bad of ["2026-02-30", "2026-6-15", "yesterday"]) {
        const refused = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", bad, "--db", filename])
        assert.strictEqual(refused.code, 1, bad)
        assert.strictEqual(refused.stderr.trim(), `multirun: --until ${bad}: expected a UTC day of the calendar written YYYY-MM-DD`)
      }
      const alone = yield* runCli(bin, dir, ["usage", "--until", spendingDay, "--db", filename])
      assert.strictEqual(alone.code, 1)
      assert.strictEqual(alone.stderr.trim(), "multirun: --until goes with --by day")
      const { url } = yield* Local.serve({ filename, port: 0 })
      const answer = yield* Effect.promise(() => fetch(`${url}/api/usage/days?until=2026-02-30`))
      assert.strictEqual(answer.status, 400)
    }).pipe(Effect.scoped))
})

describePg("multirun usage --by day on PostgreSQL", () => {
  it.live("--database-url: the same days and totals as on SQLite", () =>
    Effect.gen(function*() {
      const schema = yield* pgSchema
      const now = spendingNow
      yield* Effect.provide(recordSpending(now), PgLayer({ url: pgUrl, schema }))
      const dir = yield* tempDir("usage-days")
      const bin = yield* bundleCli
      const json = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--database-url", pgUrl, "--schema", schema, "--json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const [report] = JSON.parse(json.stdout)
      assert.strictEqual(report.days.length, 30)
      assert.deepStrictEqual(report.days.at(-1), {
        day: dayOf(now), runs: 3, steps: 43, tokens: 650, costUsd: 0.6, unpricedSteps: 1
      })
      assert.deepStrictEqual(report.total, { runs: 4, steps: 47, tokens: 3_950, costUsd: 4.5, unpricedSteps: 1 })
      assert.deepStrictEqual(report.models.map((m: any) => [m.model, m.costUsd]), [["claude-y", 3.6], ["gpt-x", 0.9], ["mystery-1", null]])
      const text = yield* runCli(bin, dir, ["usage", "--by", "day", "--until", spendingDay, "--database-url", pgUrl, "--schema", schema])
      assert.deepStrictEqual(row(text.stdout, dayOf(now - 3 * day)), [dayOf(now - 3 * day), "1", "3", "3,000", "$3.60"])
    }).pipe(Effect.scoped))
})
