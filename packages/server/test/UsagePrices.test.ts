/**
 * `multirun usage --prices FILE` run as a process: the recorded `llm_call` steps of a SQLite file
 * (and of PostgreSQL, and of a server) priced again with a newer table, per model, per run and in
 * total, beside their recorded cost; a model the table does not price is named and never priced
 * as 0; nothing stored changes; a bad price file is one exact error line.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Pricing from "@multirun/ai/Pricing"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import type * as Step from "@multirun/core/StepRecord"
import { agentRecord, describePg, pgSchema, pgUrl, runRecord, stepRecord, tempDir, tempFile } from "@multirun/core/test-utils"
import { PgLayer, SqliteLayer } from "@multirun/sql"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { bundleCli, runCli as cli } from "./cliBundle.js"
import { memoryRemote, sqliteDatabase, start } from "./TestServer.js"

/** The cost a call was recorded with: the shipped table's price of its model, `null` when it has none. */
const recorded = (model: string, usage: Pricing.TokenCounts) =>
  Option.match(Pricing.lookup(Pricing.defaultTable, model), {
    onNone: () => null,
    onSome: (price) => Pricing.costUsd(price, usage)
  })

const call = (runId: string, seq: number, model: string, usage: Pricing.TokenCounts, extra: Partial<Step.Encoded> = {}) =>
  stepRecord(`${runId}-${seq}`, runId, `${runId}-agent`, seq, {
    kind: "llm_call",
    name: "generateText",
    model,
    inputTokens: usage.inputTokens ?? 0,
    outputTokens: usage.outputTokens ?? 0,
    cachedInputTokens: usage.cachedInputTokens ?? 0,
    tokensUsed: (usage.inputTokens ?? 0) + (usage.outputTokens ?? 0),
    costUsd: recorded(model, usage),
    ...extra
  })

/**
 * Two runs. `research`: a dated gpt-4o snapshot (priced as gpt-4o), a tool call, a Claude call
 * and a replayed gpt-4o call (not billed). `review`: a model no table prices, gpt-4o, o4-mini
 * (recorded with an unknown cost: the shipped table leaves it out), a gpt-4o call cut short
 * before its usage arrived, and a call that names no model.
 */
const seed = Effect.gen(function*() {
  const client = yield* MultiRunClient
  for (const [runId, name] of [["run-research", "research"], ["run-review", "review"]] as const) {
    yield* client.writeRun(runRecord(runId, { name, status: "completed", endedAt: 1_700_000_010_000 }))
    yield* client.writeAgent(agentRecord(`${runId}-agent`, runId, { status: "completed" }))
  }
  const steps = [
    call("run-research", 0, "gpt-4o-2024-08-06", { inputTokens: 10_000, cachedInputTokens: 4_000, outputTokens: 2_000 }),
    stepRecord("run-research-1", "run-research", "run-research-agent", 1, { kind: "tool_call", costUsd: null }),
    call("run-research", 2, "claude-sonnet-4-5", { inputTokens: 1_000, outputTokens: 500 }),
    call("run-research", 3, "gpt-4o", { inputTokens: 50_000, outputTokens: 50_000 }, { replayed: true }),
    call("run-review", 0, "mystery-1", { inputTokens: 100, outputTokens: 100 }),
    call("run-review", 1, "gpt-4o", { inputTokens: 1_000, outputTokens: 1_000 }),
    call("run-review", 2, "o4-mini", { inputTokens: 2_000, outputTokens: 1_000 }),
    call("run-review", 3, "gpt-4o", {}, { status: "interrupted", tokensUsed: 0, costUsd: null }),
    call("run-review", 4, "gpt-4o", { inputTokens: 300, outputTokens: 100 }, { model: null, costUsd: null })
  ]
  for (const step of steps) yield* client.writeStep(step)
  yield* client.flush
})

/** The newer table: gpt-4o cheaper, Claude the same, o4-mini priced, mystery-1 still not. */
const newer: Pricing.PriceTable = {
  date: "2027-01-15",
  source: "the providers' pricing pages",
  models: {
    "gpt-4o": { input: 2, output: 8, cachedInput: 1 },
    "claude-sonnet-4-5": { input: 3, output: 15, cachedInput: 0.3 },
    "o4-mini": { input: 1.1, output: 4.4 }
  }
}

const tokens = (calls: number, inputTokens: number, outputTokens: number, cachedInputTokens: number) => ({
  calls,
  inputTokens,
  outputTokens,
  cachedInputTokens
})

/** What `usage --prices --json` reports for the seed in `project`. */
const expected = (file: string, project: string) => ({
  prices: { file, date: "2027-01-15", source: "the providers' pricing pages" },
  ...tokens(7, 14_400, 4_700, 4_000),
  recordedUsd: 0.063,
  recordedUnknownCalls: 4,
  repricedUsd: 0.0591,
  notPricedCalls: 3,
  projects: [{
    project,
    truncated: false,
    ...tokens(7, 14_400, 4_700, 4_000),
    recordedUsd: 0.063,
    recordedUnknownCalls: 4,
    repricedUsd: 0.0591,
    notPricedCalls: 3,
    models: [
      { model: "(no model)", ...tokens(1, 300, 100, 0), recordedUsd: null, recordedUnknownCalls: 1, repricedUsd: null, notPricedCalls: 1 },
      { model: "claude-sonnet-4-5", ...tokens(1, 1_000, 500, 0), recordedUsd: 0.0105, recordedUnknownCalls: 0, repricedUsd: 0.0105, notPricedCalls: 0 },
      { model: "gpt-4o", ...tokens(2, 1_000, 1_000, 0), recordedUsd: 0.0125, recordedUnknownCalls: 1, repricedUsd: 0.01, notPricedCalls: 1 },
      { model: "gpt-4o-2024-08-06", ...tokens(1, 10_000, 2_000, 4_000), recordedUsd: 0.04, recordedUnknownCalls: 0, repricedUsd: 0.032, notPricedCalls: 0 },
      { model: "mystery-1", ...tokens(1, 100, 100, 0), recordedUsd: null, recordedUnknownCalls: 1, repricedUsd: null, notPricedCalls: 1 },
      { model: "o4-mini", ...tokens(1, 2_000, 1_000, 0), recordedUsd: null, recordedUnknownCalls: 1, repricedUsd: 0.0066, notPricedCalls: 0 }
    ],
    runs: [
      { runId: "run-research", name: "research", ...tokens(2, 11_000, 2_500, 4_000), recordedUsd: 0.0505, recordedUnknownCalls: 0, repricedUsd: 0.0425, notPricedCalls: 0 },
      { runId: "run-review", name: "review", ...tokens(5, 3_400, 2_200, 0), recordedUsd: 0.0125, recordedUnknownCalls: 4, repricedUsd: 0.0166, notPricedCalls: 3 }
    ].sort((a, b) => a.runId < b.runId ? 1 : -1)
  }],
  notPriced: [
    { model: "(no model)", reason: "NoPrice", calls: 1, runs: ["run-review"] },
    { model: "gpt-4o", reason: "NoUsage", calls: 1, runs: ["run-review"] },
    { model: "mystery-1", reason: "NoPrice", calls: 1, runs: ["run-review"] }
  ]
})

/** Re-prices the seeded source, as JSON and as text, and checks that nothing stored changed. */
const scenario = (source: ReadonlyArray<string>, project: string) =>
  Effect.gen(function*() {
    const [bin, cwd] = yield* Effect.all([bundleCli, tempDir("prices")], { concurrency: 2 })
    const file = path.join(cwd, "prices-2027-01.json")
    fs.writeFileSync(file, JSON.stringify(newer))
    const stepsBefore = yield* cli(bin, cwd, ["runs", "show", "run-review", ...source, "--json"])
    const [json, text] = yield* Effect.all([
      cli(bin, cwd, ["usage", ...source, "--prices", file, "--json"]),
      cli(bin, cwd, ["usage", ...source, "--prices", file])
    ], { concurrency: 2 })
    assert.strictEqual(json.code, 0, json.stderr)
    const report = JSON.parse(json.stdout)
    assert.deepStrictEqual(report, expected(file, project))
    assert.strictEqual(text.code, 0, text.stderr)
    const column = (cell: string) => cell.padEnd(Math.max("PROJECT".length, project.length))
    assert.strictEqual(
      text.stdout.trim(),
      [
        `Re-priced with the price table of 2027-01-15 (${file}); recorded costs are left as they are.`,
        "",
        `${column("PROJECT")}  MODEL              CALLS  INPUT   OUTPUT  CACHED  RECORDED                RE-PRICED`,
        `${column(project)}  (no model)         1      300     100     0       unknown                 not priced`,
        `${column(project)}  claude-sonnet-4-5  1      1,000   500     0       $0.0105                 $0.0105`,
        `${column(project)}  gpt-4o             2      1,000   1,000   0       ≥ $0.0125 (1 unpriced)  $0.0100 + 1 not priced`,
        `${column(project)}  gpt-4o-2024-08-06  1      10,000  2,000   4,000   $0.0400                 $0.0320`,
        `${column(project)}  mystery-1          1      100     100     0       unknown                 not priced`,
        `${column(project)}  o4-mini            1      2,000   1,000   0       unknown                 $0.0066`,
        "",
        `${column("PROJECT")}  RUN           NAME      CALLS  RECORDED                RE-PRICED`,
        `${column(project)}  run-review    review    5      ≥ $0.0125 (4 unpriced)  $0.0166 + 3 not priced`,
        `${column(project)}  run-research  research  2      $0.0505                 $0.0425`,
        "",
        "Total: 7 calls; recorded ≥ $0.0630 (4 unpriced), re-priced $0.0591 + 3 not priced",
        "Not priced by the table of 2027-01-15: (no model) (1 call in 1 run)",
        "Not priced, no usage recorded: \"gpt-4o\" (1 call in 1 run): it ended before the provider reported its usage",
        "Not priced by the table of 2027-01-15: \"mystery-1\" (1 call in 1 run)"
      ].join("\n")
    )
    // it only reads: the recorded costs are those of before
    const stepsAfter = yield* cli(bin, cwd, ["runs", "show", "run-review", ...source, "--json"])
    assert.strictEqual(stepsAfter.stdout, stepsBefore.stdout)
    assert.include(stepsAfter.stdout, "\"costUsd\": 0.0125")
  })

describe("multirun usage --prices", () => {
  it.scopedLive("re-prices the recorded model calls of a SQLite file with a newer table", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      yield* Effect.provide(seed, SqliteLayer({ filename }))
      yield* scenario(["--db", filename], "default")
    }), 120_000)

  it.scopedLive("re-prices the key's project of a server (--url, --api-key)", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      yield* Effect.provide(seed, memoryRemote({ url: server.url, apiKey: server.apiKey }))
      yield* scenario(["--url", server.url, "--api-key", server.apiKey], "test")
    }), 120_000)

  it.scopedLive("a bad price file is one exact line and exit code 1, before any database is opened", () =>
    Effect.gen(function*() {
      const [bin, cwd] = yield* Effect.all([bundleCli, tempDir("prices")], { concurrency: 2 })
      const write = (name: string, text: string) => {
        const file = path.join(cwd, name)
        fs.writeFileSync(file, text)
        return file
      }
      const notJson = "{ \"date\": \"2027-01-15\", }"
      const parseError = (() => {
        try {
          JSON.parse(notJson)
          return ""
        } catch (error) {
          return (error as Error).message
        }
      })()
      const files = {
        missing: path.join(cwd, "absent.json"),
        directory: cwd,
        notJson: write("not.json", notJson),
        array: write("array.json", "[]"),
        noDate: write("nodate.json", JSON.stringify({ source: "s", models: {} })),
        badDate: write("baddate.json", JSON.stringify({ ...newer, date: "January 2027" })),
        negative: write("negative.json", JSON.stringify({ ...newer, models: { ...newer.models, "gpt-4o": { input: -2, output: 8 } } })),
        twoWrong: write("two.json", JSON.stringify({ date: "2027-01-15", models: { "gpt-4o": { input: "2", output: 8 } } }))
      }
      const results = yield* Effect.forEach(
        Object.entries(files),
        // no database exists in cwd: the price file is refused before one is looked for
        ([name, file]) => Effect.map(cli(bin, cwd, ["usage", "--prices", file]), (result) => [name, result] as const),
        { concurrency: 2 }
      )
      const lines = Object.fromEntries(results.map(([name, r]) => [name, { code: r.code, stderr: r.stderr.trim(), stdout: r.stdout }]))
      const line = (message: string) => ({ code: 1, stderr: `multirun: --prices: ${message}`, stdout: "" })
      assert.deepStrictEqual(lines, {
        missing: line(`cannot read ${files.missing}: no such file`),
        directory: line(`cannot read ${cwd}: it is a directory`),
        notJson: line(`${files.notJson} is not JSON (${parseError})`),
        array: line(`${files.array} holds an array, not a price table { "date", "source", "models" }`),
        noDate: line(`${files.noDate} has no "date": give the day its prices were taken (YYYY-MM-DD)`),
        badDate: line(`${files.badDate}: date: Expected a string matching the pattern ^\\d{4}-\\d{2}-\\d{2}$, actual "January 2027"`),
        negative: line(`${files.negative}: models["gpt-4o"].input: Expected a non-negative number, actual -2`),
        twoWrong: line(`${files.twoWrong}: source: is missing (and 1 more problem)`)
      })
    }), 120_000)
})

describePg("multirun usage --prices on PostgreSQL", () => {
  it.scopedLive("re-prices the recorded model calls of a schema", () =>
    Effect.gen(function*() {
      const schema = yield* pgSchema
      yield* Effect.provide(seed, PgLayer({ url: pgUrl, schema }))
      yield* scenario(["--database-url", pgUrl, "--schema", schema], "default")
    }), 120_000)
})
