/**
 * Peak memory of a long durable run: `--steps N` (default 1,000,000) small steps through
 * `SqliteLayer` in one run, with a `checkpoint()` every `--every M` steps (default 100,000). Prints
 * one JSON line, `{ measured, baseline }`: the process's peak RSS (MB) at the end, and its peak RSS
 * once the layer is built and the run started, before the first step. Run it alone in its own
 * process (`npm run bench` does, packages/server/benchmark/all.ts): peak RSS is per process.
 *
 *   node packages/sql/build/benchmark/memory.js [--steps N] [--every M]
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { SqliteLayer } from "@multirun/sql"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}
const steps = arg("steps", 1_000_000)
const every = arg("every", 100_000)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-bench-memory-"))

const peakMb = () => process.resourceUsage().maxRSS / 1024

const program = withRun("memory")(withAgent("worker")(Effect.gen(function*() {
  const run = yield* RunContext
  const baseline = peakMb()
  for (let i = 0; i < steps; i++) {
    yield* Effect.succeed({ ok: true, n: i }).pipe(step("tool", { kind: "tool_call", input: { query: "q", i } }))
    if ((i + 1) % every === 0) yield* run.checkpoint(`at-${i + 1}`)
  }
  yield* run.client.flush
  return { measured: peakMb(), baseline }
}))).pipe(
  Effect.tap(() =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM multirun_steps`
      const n = row?.n ?? 0
      if (n !== steps) return yield* Effect.dieMessage(`${n} of ${steps} steps were stored`)
    })
  ),
  Effect.provide(SqliteLayer({ filename: path.join(dir, "memory.db") }))
)

Effect.runPromise(program).then(
  (figure) => console.log(JSON.stringify(figure)),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
