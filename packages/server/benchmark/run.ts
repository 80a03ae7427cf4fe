/**
 * End-to-end throughput: steps/s from RemoteLayer into `multirun serve` (a separate process on a
 * loopback port) on SQLite and on PostgreSQL, with 1 and with 20 concurrent runs, the p50/p99
 * latency of ingest requests seen by the client, and the client's CPU time per step. On SQLite,
 * one run is also measured with the durable outbox (`SqliteOutbox`) instead of the memory one.
 *
 *   npm run bench   (or, after `tsc -b`: node packages/server/build/benchmark/run.js [--steps N] [--pg URL])
 *
 * PostgreSQL is measured when it answers at --pg (default postgres://postgres@127.0.0.1:5432/test),
 * in a fresh schema dropped afterwards.
 *
 * With `--figure STORE-OUTBOX` (sqlite-memory, sqlite-file, postgres-memory, postgres-file) it
 * measures only 1 client on that store and outbox, for `npm run bench`'s table
 * (packages/server/benchmark/all.ts), and prints one JSON line `{ measured, baseline }`: steps/s
 * through the server, and steps/s of the same run in process through `SqliteLayer` or `PgLayer`.
 */
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { Outbox, step, withRun } from "@multirun/core"
import * as Remote from "@multirun/core/RemoteLayer"
import { PgLayer, SqliteLayer, SqliteOutbox } from "@multirun/sql"
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startServer, stopServer } from "./serveProcess.js"

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1]! : fallback
}
const totalSteps = Number(arg("steps", "100000"))
const pgUrl = arg("pg", "postgres://postgres@127.0.0.1:5432/test")
// the `multirun` command as users run it: compiled, from dist/ (this script runs compiled, from build/)
const packageRoot = path.resolve(import.meta.dirname, import.meta.dirname.endsWith(path.join("build", "benchmark")) ? "../.." : "..")
const bin = path.join(packageRoot, "bin", "multirun.js")

/** The benchmark's temporary directory (databases, and the children's temporary files), removed at the end. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-bench-"))
const childEnv = { ...process.env, TMPDIR: dir }

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** RemoteLayer whose fetch client records the latency of every ingest request. */
const timedRemote = (options: Remote.Options, latencies: Array<number>, outbox: Layer.Layer<Outbox.Outbox, unknown>) => {
  const timedHttp = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      client.pipe(HttpClient.transform((response, request) => {
        if (!request.url.endsWith("/api/ingest")) return response
        const started = performance.now()
        return Effect.tap(response, () => Effect.sync(() => latencies.push(performance.now() - started)))
      })))
  ).pipe(Layer.provide(FetchHttpClient.layer))
  return Remote.layerWithoutHttpClient(options).pipe(Layer.provide(Layer.merge(timedHttp, outbox)))
}

/** One run of `steps` small steps, each with an input and an output like a tool call's. */
const oneRun = (name: string, steps: number) =>
  withRun(name)(Effect.gen(function*() {
    for (let i = 0; i < steps; i++) {
      yield* Effect.succeed({ ok: true, n: i }).pipe(step("tool", { kind: "tool_call", input: { query: "q", i } }))
    }
  }))

/** The outbox of a measure: the memory one, or a new SQLite file. */
const outboxes = {
  memory: () => Outbox.layerMemory,
  file: () => SqliteOutbox.layer({ filename: path.join(fs.mkdtempSync(path.join(dir, "outbox-")), "outbox.db") })
}

const measure = async (label: string, url: string, apiKey: string, runs: number, outbox: keyof typeof outboxes = "memory") => {
  const latencies: Array<number> = []
  const perRun = Math.floor(totalSteps / runs)
  const started = performance.now()
  const cpu = process.cpuUsage()
  await Effect.runPromise(
    Effect.all(Array.from({ length: runs }, (_, i) => oneRun(`bench-${runs}-${i}`, perRun)), { concurrency: "unbounded" }).pipe(
      Effect.provide(timedRemote({ url, apiKey }, latencies, outboxes[outbox]()))
    )
  )
  const seconds = (performance.now() - started) / 1000
  const { system, user } = process.cpuUsage(cpu)
  latencies.sort((a, b) => a - b)
  const row = {
    store: label,
    outbox,
    runs,
    steps: perRun * runs,
    "steps/s": Math.round((perRun * runs) / seconds),
    batches: latencies.length,
    "p50 ms": Number(percentile(latencies, 50).toFixed(1)),
    "p99 ms": Number(percentile(latencies, 99).toFixed(1)),
    "client cpu µs/step": Number(((user + system) / (perRun * runs)).toFixed(1))
  }
  console.log(JSON.stringify(row))
  return row
}

const bench = async (label: string, dbArgs: ReadonlyArray<string>) => {
  const { url, child } = await startServer(bin, dbArgs, childEnv)
  try {
    const apiKey = execFileSync(process.execPath, [bin, "keys", "create", "--project", "bench", ...dbArgs], {
      stdio: ["ignore", "pipe", "ignore"],
      env: childEnv
    })
      .toString().trim()
    await measure(label, url, apiKey, 1) // warm-up of both processes
    const rows = [await measure(label, url, apiKey, 1), await measure(label, url, apiKey, 20)]
    return label === "sqlite" ? [...rows, await measure(label, url, apiKey, 1, "file")] : rows
  } finally {
    await stopServer(child)
  }
}

const pgReachable = async () => {
  try {
    execFileSync("pg_isready", ["-d", pgUrl], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** The store of a figure: the server's arguments, and the same store in process. */
const stores = {
  sqlite: (schema: string) => ({
    serve: ["--db", path.join(dir, `${schema}.db`)],
    local: () => SqliteLayer({ filename: path.join(dir, `${schema}-local.db`) })
  }),
  postgres: (schema: string) => ({
    serve: ["--database-url", pgUrl, "--schema", schema],
    local: () => PgLayer({ url: pgUrl, schema })
  })
}

/** `--figure STORE-OUTBOX`: 1 client through the server (after a warm-up), and in process. */
const figure = async (name: string) => {
  const [store, outbox] = name.split("-") as [keyof typeof stores, keyof typeof outboxes]
  if (!(store in stores) || !(outbox in outboxes)) throw new Error(`--figure takes sqlite|postgres-memory|file, not ${name}`)
  const schema = `multirun_bench_${Math.random().toString(36).slice(2, 10)}`
  const { local, serve } = stores[store](schema)
  try {
    const { url, child } = await startServer(bin, serve, childEnv)
    let measured: number
    try {
      const apiKey = execFileSync(process.execPath, [bin, "keys", "create", "--project", "bench", ...serve], {
        stdio: ["ignore", "pipe", "ignore"],
        env: childEnv
      }).toString().trim()
      await measure(store, url, apiKey, 1, outbox) // warm-up of both processes
      measured = (await measure(store, url, apiKey, 1, outbox))["steps/s"]
    } finally {
      await stopServer(child)
    }
    const started = performance.now()
    await Effect.runPromise(Effect.provide(oneRun("local", totalSteps), local()))
    const baseline = Math.round(totalSteps / ((performance.now() - started) / 1000))
    console.log(JSON.stringify({ measured, baseline }))
  } finally {
    if (store === "postgres") execFileSync("psql", [pgUrl, "-qc", `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: "ignore" })
  }
}

const main = async () => {
  const rows = []
  rows.push(...await bench("sqlite", ["--db", path.join(dir, "bench.db")]))
  if (await pgReachable()) {
    const schema = `multirun_bench_${Math.random().toString(36).slice(2, 10)}`
    try {
      rows.push(...await bench("postgres", ["--database-url", pgUrl, "--schema", schema]))
    } finally {
      execFileSync("psql", [pgUrl, "-qc", `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: "ignore" })
    }
  } else {
    console.log(`PostgreSQL not reachable at ${pgUrl}: skipped`)
  }
  console.table(rows)
}

(process.argv.includes("--figure") ? figure(arg("figure", "")) : main()).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
