/**
 * Bytes per small step in a SQLite file: after `tsc -b`, `node packages/sql/build/benchmark/size.js`
 * (compiled, on dist), or `npx tsx --conditions=@multirun/source packages/sql/benchmark/size.ts`.
 *
 * Writes `BENCH_STEPS` (default 10,000) completed steps with a ~20 B input and a ~30 B output
 * (UUIDv7 ids, a SHA-256 input hash, like real steps) through `SqliteLayer` into `BENCH_ROUNDS`
 * (default 5) files, closing the layer and running `VACUUM` on each, and prints the median time
 * of the write and of a `listSteps` of the steps, the file size per step, net of the size of an
 * empty store, with the bytes of each table and index (from SQLite's `dbstat`). With `--figure`,
 * prints only the net bytes per step and, as a baseline, the bytes of the step as a line of JSON,
 * as one JSON line (for `npm run bench`'s table, packages/server/benchmark/all.ts).
 */
import { uuidv7 } from "@multirun/core/Ids"
import type * as Step from "@multirun/core/Step"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { SqliteLayer } from "@multirun/sql"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"

/** The part of better-sqlite3's API this script uses (the package ships no types). */
interface RawDatabase {
  exec(source: string): unknown
  prepare(source: string): { all(): Array<{ name: string; bytes: number }> }
  close(): void
}
const RawSqlite = createRequire(import.meta.url)("better-sqlite3") as new(filename: string) => RawDatabase

const count = Number(process.env.BENCH_STEPS ?? 10_000)
const roundCount = Number(process.env.BENCH_ROUNDS ?? 5)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-size-"))

const input = JSON.stringify({ q: "what is 2+2?" }) // 20 bytes
const output = JSON.stringify({ answer: "4", confidence: 0.9 }) // 31 bytes

const steps = (n: number): Array<Step.Encoded> => {
  const runId = uuidv7.next(1_700_000_000_000)
  const agentId = uuidv7.next(1_700_000_000_000)
  const inputHash = createHash("sha256").update(input).digest("hex")
  return Array.from({ length: n }, (_, seq) => ({
    id: uuidv7.next(1_700_000_000_000 + seq),
    runId,
    agentId,
    name: "answer",
    kind: "llm_call",
    seq,
    inputHash,
    input,
    output,
    error: null,
    status: "completed",
    startedAt: 1_700_000_000_000 + seq,
    endedAt: 1_700_000_000_012 + seq,
    latencyMs: 12,
    tokensUsed: 42,
    costUsd: 0.000126,
    replayed: false
  }))
}

/** Milliseconds an effect takes. */
const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.map(effect, () => performance.now() - started)
  })

/** Writes the steps into a new file (timing the write, and a `listSteps` of them in a new layer), vacuums it, returns its size and the bytes per table. */
const fileOf = (name: string, records: ReadonlyArray<Step.Encoded>) =>
  Effect.gen(function*() {
    const filename = path.join(dir, name)
    const writeMs = yield* elapsed(Effect.flatMap(MultiRunClient, (client) =>
      Effect.zipRight(Effect.forEach(records, client.writeStep, { discard: true }), client.flush)).pipe(
        Effect.provide(SqliteLayer({ filename }))
      ))
    const runId = records[0]?.runId ?? "none"
    const readMs = yield* Effect.flatMap(MultiRunClient, (client) => elapsed(client.listSteps(runId))).pipe(
      Effect.provide(SqliteLayer({ filename }))
    )
    const db = new RawSqlite(filename)
    db.exec("PRAGMA journal_mode = DELETE")
    db.exec("VACUUM")
    const tables = db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC").all()
    db.close()
    return { size: fs.statSync(filename).size, tables, writeMs, readMs }
  })

const program = Effect.gen(function*() {
  const empty = yield* fileOf("empty.db", [])
  const figure = process.argv.includes("--figure")
  const rounds = yield* Effect.forEach(
    Array.from({ length: figure ? 1 : roundCount }, (_, i) => i),
    (i) => fileOf(`steps-${i}.db`, steps(count))
  )
  const full = rounds[rounds.length - 1]!
  const net = (full.size - empty.size) / count
  if (figure) {
    // baseline: the same step as one line of JSON, what a JSON-lines log of the steps would take
    return console.log(JSON.stringify({ measured: net, baseline: JSON.stringify(steps(1)[0]).length + 1 }))
  }
  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const before = new Map(empty.tables.map((t) => [t.name, t.bytes]))
  console.log(`input ${input.length} B, output ${output.length} B, ${count} steps`)
  console.log(`file ${full.size} B (empty store ${empty.size} B)`)
  console.log(
    `write of ${count} steps ${median(rounds.map((r) => r.writeMs)).toFixed(0)} ms, listSteps ` +
      `${median(rounds.map((r) => r.readMs)).toFixed(0)} ms (medians of ${roundCount} files)`
  )
  console.log(`bytes per step: ${(full.size / count).toFixed(1)} gross, ${net.toFixed(1)} net`)
  for (const table of full.tables) {
    const grown = table.bytes - (before.get(table.name) ?? 0)
    if (grown > 0) console.log(`  ${table.name}: ${(grown / count).toFixed(1)} B per step`)
  }
})

Effect.runPromise(program).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
