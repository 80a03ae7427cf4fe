/**
 * Benchmark of the SQL store: `npm run bench` (compiled, on dist), or
 * `npx tsx --conditions=@multirun/source packages/sql/benchmark/run.ts`.
 *
 * - durable steps/s through `SqliteLayer` (100,000 steps via core `step()` in one run, flushed),
 *   next to the same program on `LocalLayer` (core's own cost) and to the store's writer alone;
 * - the physical limit: better-sqlite3 inserting the same rows (the store's columns and values) with one
 *   prepared statement in 1,000-row transactions, and the ratio of the store to it;
 * - steps/s into PostgreSQL (skipped when unreachable);
 * - checkpoint save, load and restore for a run of 10,000 steps with 100 KB of state, next to
 *   LangGraph's `SqliteSaver` (`put`, `getTuple`) holding the same state in a checkpoint.
 *
 * Every figure is the best (throughput) or the median (checkpoints) of several rounds: the
 * machine is shared, and a single round can land on another process's burst.
 *
 * `--figure durable` measures only the durable ratio, for `npm run bench`'s table.
 *
 * Environment: `MULTIRUN_TEST_PG_URL` (default postgres://postgres@127.0.0.1:5432/test; the tests' variable),
 * `BENCH_STEPS` (default 100000).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type Checkpoint as LangGraphCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint"
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite"
import { LocalLayer, RunContext, step, withAgent, withRun } from "@multirun/core"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import type * as Step from "@multirun/core/Step"
import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { PgLayer, SqliteLayer, SqlStore } from "@multirun/sql"
import * as StepRows from "@multirun/sql/StepRows"

/** The part of better-sqlite3's API the raw baseline uses (the package ships no types). */
interface RawDatabase {
  pragma(source: string): unknown
  prepare(source: string): { run(...params: ReadonlyArray<unknown>): unknown }
  transaction<F extends (...args: Array<any>) => void>(fn: F): F
  close(): void
}
const RawSqlite = createRequire(import.meta.url)("better-sqlite3") as new(filename: string) => RawDatabase

const steps = Number(process.env.BENCH_STEPS ?? 100_000)
const pgUrl = process.env.MULTIRUN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-bench-"))

type Backend = Layer.Layer<MultiRunClient | Checkpoints, unknown>

/** The state every checkpoint of the benchmark holds: about 100 KB of JSON. */
const memory = Array.from({ length: 1_000 }, (_, i) => ({ id: i, note: randomBytes(40).toString("hex") }))
const memoryKb = Math.round(JSON.stringify(memory).length / 1024)
const rounds = 5

const rows: Array<readonly [string, string]> = []
const row = (name: string, value: string) => {
  rows.push([name, value])
  process.stderr.write(".")
}
const rate = (count: number, ms: number) => `${Math.round(count / (ms / 1000)).toLocaleString("en-US")} steps/s`

/** One run of `count` steps via core `step()`; returns the milliseconds until the run ended, flushed. */
const stepRun = (count: number) =>
  Effect.gen(function*() {
    const started = performance.now()
    const runId = yield* withRun("bench")(withAgent("worker")(Effect.gen(function*() {
      for (let i = 0; i < count; i++) {
        yield* Effect.succeed(i).pipe(step("call", { kind: "llm_call", input: { i } }))
      }
      return (yield* RunContext).runId
    })))
    return { ms: performance.now() - started, runId }
  })

/** `stepRun` on a backend, checking that every step was stored. */
const timed = (backend: Backend, count: number) =>
  Effect.gen(function*() {
    const { ms, runId } = yield* stepRun(count)
    const stored = yield* Effect.flatMap(MultiRunClient, (client) => client.listSteps(runId))
    if (stored.length !== count) return yield* Effect.dieMessage("not every step was stored")
    return ms
  }).pipe(Effect.provide(backend))

/** The records written by the SQLite run, for the baselines. */
const storedRecords = (backend: Layer.Layer<MultiRunClient, unknown>, runId: string) =>
  Effect.flatMap(MultiRunClient, (client) => client.listSteps(runId)).pipe(Effect.provide(backend))

/** better-sqlite3 directly: the same rows, one prepared INSERT, 1,000 rows per transaction. */
const rawInsert = (records: ReadonlyArray<Step.Encoded>, round: number) =>
  Effect.gen(function*() {
    const filename = path.join(dir, `raw-${round}.db`)
    // same tables and indexes as the store
    yield* Effect.provide(Effect.void, SqliteLayer({ filename }))
    const db = new RawSqlite(filename)
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    const insert = db.prepare(
      `INSERT INTO multirun_steps (${StepRows.writeColumns.join(", ")}) VALUES (${StepRows.writeColumns.map(() => "?").join(", ")})`
    )
    // the store's row layout (ids and hash as bytes, a column per field), encoded before the clock starts
    const rows = records.map((record) => StepRows.bind("default", record))
    const batch = db.transaction((from: number) => {
      for (let i = from; i < Math.min(from + 1_000, rows.length); i++) insert.run(...rows[i]!)
    })
    const started = performance.now()
    for (let from = 0; from < records.length; from += 1_000) batch(from)
    const ms = performance.now() - started
    db.close()
    return ms
  })

/** The store's writer alone: the same records through `writeStep`, then `flush`. */
const writerOnly = (records: ReadonlyArray<Step.Encoded>, round: number) =>
  Effect.gen(function*() {
    const store = yield* SqlStore.make()
    const started = performance.now()
    for (const record of records) yield* store.writeStep(record)
    yield* store.flush
    return performance.now() - started
  }).pipe(Effect.scoped, Effect.provide(SqliteLayer({ filename: path.join(dir, `writer-${round}.db`) })))

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Milliseconds an effect takes. */
const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.map(effect, () => performance.now() - started)
  })

/**
 * Checkpoints of a 10,000-step run holding {@link memory}, medians of {@link rounds}: `checkpoint()`
 * (save), the bare loads `SqlStore.getCheckpoint` (stored JSON) and `Checkpoints.get` (decoded),
 * and the restore, `withRun({ resume: { runId, latest: true } })` in a fresh layer until the
 * replay cache of the 10,000 steps is built.
 */
const checkpointTimes = (open: () => Backend) =>
  Effect.gen(function*() {
    const saves: Array<number> = []
    const { checkpointId, runId } = yield* withRun("checkpointed")(Effect.gen(function*() {
      const run = yield* RunContext
      for (let i = 0; i < 10_000; i++) yield* Effect.succeed(i).pipe(step("call", { input: { i } }))
      yield* run.setState("memory", memory)
      yield* run.client.flush
      let checkpointId = ""
      for (let round = 0; round < rounds; round++) {
        yield* run.setState("round", round)
        const started = performance.now()
        checkpointId = (yield* run.checkpoint(`save-${round}`)).id
        saves.push(performance.now() - started)
      }
      return { checkpointId, runId: run.runId }
    })).pipe(Effect.provide(open()))
    const { gets, loads } = yield* Effect.gen(function*() {
      const [client, checkpoints] = [yield* MultiRunClient, yield* Checkpoints]
      const loads: Array<number> = []
      const gets: Array<number> = []
      for (let round = 0; round < rounds; round++) {
        loads.push(yield* elapsed(client.getCheckpoint(checkpointId)))
        gets.push(yield* elapsed(checkpoints.get(checkpointId)))
      }
      return { gets, loads }
    }).pipe(Effect.provide(open()))
    const restores: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const ms = yield* Effect.gen(function*() {
        const started = performance.now()
        return yield* withRun({ name: "checkpointed", resume: { runId, latest: true } })(
          Effect.sync(() => performance.now() - started)
        )
      }).pipe(Effect.provide(open()))
      restores.push(ms)
    }
    return { save: median(saves), load: median(loads), get: median(gets), restore: median(restores) }
  })

/**
 * LangGraph's SQLite checkpointer with the same state: `put` of a checkpoint whose channel holds
 * {@link memory} (one new checkpoint per round, like `checkpoint()`), then `getTuple` of the
 * thread's latest. Same durability as `SqliteLayer`: WAL (the saver's own setting) and
 * `synchronous = NORMAL`. Medians of {@link rounds}.
 */
const langGraphTimes = Effect.promise(async () => {
  const saver = SqliteSaver.fromConnString(path.join(dir, "langgraph.db"))
  const thread = { configurable: { thread_id: "checkpointed", checkpoint_ns: "" } }
  await saver.getTuple(thread) // creates the tables and turns on WAL
  saver.db.pragma("synchronous = NORMAL")
  const saves: Array<number> = []
  let config = thread
  for (let round = 0; round < rounds; round++) {
    const checkpoint: LangGraphCheckpoint = {
      v: 4,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { memory, round },
      channel_versions: { memory: 1, round: round + 1 },
      versions_seen: {}
    }
    const started = performance.now()
    config = await saver.put(config, checkpoint, { source: "loop", step: round, parents: {} }) as typeof thread
    saves.push(performance.now() - started)
  }
  const loads: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    const tuple = await saver.getTuple(thread)
    loads.push(performance.now() - started)
    if ((tuple?.checkpoint.channel_values.memory as ReadonlyArray<unknown>).length !== memory.length) {
      throw new Error("LangGraph returned another checkpoint")
    }
  }
  saver.db.close()
  return { save: median(saves), load: median(loads) }
})

const millis = (value: number) => `${value.toFixed(1)} ms`
const ratio = (value: number) => `${value.toFixed(2)}x`

const pgReachable = (schema: string) =>
  Effect.provide(Effect.as(SqlClient.SqlClient, true), PgLayer({ url: pgUrl, schema })).pipe(
    Effect.orElseSucceed(() => false)
  )

const dropSchema = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
    Effect.provide(PgLayer({ url: pgUrl })),
    Effect.ignore
  )

/**
 * Milliseconds for {@link steps} durable steps: core `step()` through `SqliteLayer`, the store's
 * writer alone, and raw better-sqlite3 on the same rows. They alternate; the best (wall-clock)
 * round of each counts, which keeps a busy machine from deciding the ratio.
 */
const durableTimes = Effect.gen(function*() {
  const storeRounds: Array<number> = []
  const writerRounds: Array<number> = []
  const rawRounds: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const sqlite = SqliteLayer({ filename: path.join(dir, `store-${round}.db`) })
    const { ms, runId } = yield* Effect.provide(stepRun(steps), sqlite)
    storeRounds.push(ms)
    const records = yield* storedRecords(sqlite, runId)
    if (records.length !== steps) return yield* Effect.dieMessage("not every step was stored")
    writerRounds.push(yield* writerOnly(records, round))
    rawRounds.push(yield* rawInsert(records, round))
  }
  return { storeMs: Math.min(...storeRounds), writerMs: Math.min(...writerRounds), rawMs: Math.min(...rawRounds) }
})

/**
 * `--figure durable`: only the figure of `npm run bench`'s table (packages/server/benchmark/all.ts),
 * as one JSON line: steps/s of `step()` through `SqliteLayer` and of raw better-sqlite3.
 */
const figure = Effect.gen(function*() {
  if (process.argv[process.argv.indexOf("--figure") + 1] !== "durable") {
    return yield* Effect.dieMessage("--figure takes: durable")
  }
  const { rawMs, storeMs } = yield* durableTimes
  console.log(JSON.stringify({ measured: Math.round(steps / (storeMs / 1000)), baseline: Math.round(steps / (rawMs / 1000)) }))
})

const main = Effect.gen(function*() {
  process.stdout.write(`multirun SQL store benchmark: ${steps.toLocaleString("en-US")} steps, node ${process.version}\n`)
  const memoryMs = yield* timed(LocalLayer, steps)
  row("core step() on LocalLayer (memory, no I/O)", rate(steps, memoryMs))

  const { rawMs, storeMs, writerMs } = yield* durableTimes
  row(`durable: core step() through SqliteLayer, flushed (best of ${rounds})`, rate(steps, storeMs))
  row("SqlStore writer alone (writeStep + flush, same records)", rate(steps, writerMs))
  row("raw better-sqlite3, same rows, 1,000-row transactions", rate(steps, rawMs))
  row("ratio SqliteLayer step() / raw better-sqlite3 (target >= 0.5)", (rawMs / storeMs).toFixed(2))
  row("ratio SqlStore writer alone / raw better-sqlite3", (rawMs / writerMs).toFixed(2))

  const schema = `mr_bench_${randomBytes(4).toString("hex")}`
  if (yield* pgReachable(schema)) {
    const pgMs = yield* timed(PgLayer({ url: pgUrl, schema }), steps)
    row("durable: core step() through PgLayer, flushed", rate(steps, pgMs))
    const pgCheckpoint = yield* checkpointTimes(() => PgLayer({ url: pgUrl, schema }))
    row(`PgLayer checkpoint() save (10,000 steps, ${memoryKb} KB state)`, millis(pgCheckpoint.save))
    row("PgLayer restore (resume until replay cache built)", millis(pgCheckpoint.restore))
    yield* dropSchema(schema)
  } else {
    row("PgLayer", `skipped: ${pgUrl} is unreachable`)
  }

  const checkpointFile = path.join(dir, "checkpoint.db")
  const sqlite = yield* checkpointTimes(() => SqliteLayer({ filename: checkpointFile }))
  const langGraph = yield* langGraphTimes
  row(`SqliteLayer checkpoint() save (10,000 steps, ${memoryKb} KB state)`, millis(sqlite.save))
  row("LangGraph SqliteSaver.put, same state", millis(langGraph.save))
  row("ratio save: SqliteSaver.put / checkpoint() (> 1: multirun faster)", ratio(langGraph.save / sqlite.save))
  row("SqliteLayer load: SqlStore.getCheckpoint (stored JSON)", millis(sqlite.load))
  row("SqliteLayer load: Checkpoints.get (decoded Checkpoint)", millis(sqlite.get))
  row("LangGraph SqliteSaver.getTuple (latest), same state", millis(langGraph.load))
  row("ratio load: SqliteSaver.getTuple / Checkpoints.get", ratio(langGraph.load / sqlite.get))
  row("SqliteLayer restore (resume until replay cache built, <= 100 ms)", millis(sqlite.restore))

  const width = Math.max(...rows.map(([name]) => name.length))
  const line = "-".repeat(width + 24)
  process.stdout.write(`\n${line}\n${rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join("\n")}\n${line}\n`)
})

Effect.runPromise(process.argv.includes("--figure") ? figure : main).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
