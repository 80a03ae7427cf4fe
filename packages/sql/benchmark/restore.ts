/**
 * A run's whole life on SQLite ("A run's life", 0.3): how long a resume of a 10,000-step run takes
 * until its program starts, how long the replay of its 10,000 recorded steps takes, and how both
 * change when the run was resumed many times, next to LangGraph's `SqliteSaver.getTuple` of a
 * 10,000-checkpoint thread. After `tsc -b`:
 *
 *   node packages/sql/build/benchmark/restore.js [--figure] [--steps N] [--resumes K]
 *
 * (compiled, on dist), or `npx tsx --conditions=@multirun/source packages/sql/benchmark/restore.ts`.
 *
 * In a SQLite file of a temporary directory (removed at the end):
 *
 * 1. record: one run, one agent, `--steps` (default 10,000) `llm_call` steps with small JSON inputs
 *    and outputs (about 20 and 30 B), a `checkpoint("end")`, then the program fails on purpose: a
 *    `completed` run cannot be resumed. The time of this first execution (program start to the
 *    last step) is the baseline of the replay.
 * 2. resume, `--resumes` + 1 times (default 11): each builds a fresh `SqliteLayer` on the file and
 *    runs `withRun({ name, resume: { runId, latest: true } })` whose program is the same one, so it
 *    replays every step, reaches `checkpoint("end")` again and fails on purpose. Measured on each:
 *    - resume-to-body: from before the layer is built until the first line of the program runs;
 *    - replay: from that first line until the last replayed step returned (the agent's start
 *      included). A step body that runs during a resume makes the benchmark fail: the figure would
 *      not be a replay.
 *    The first resume is the "fresh" figure; the last, which follows `--resumes` resumes, the
 *    "after K resumes" one.
 * 3. rows: the step and checkpoint rows of the file after the first run and after `--resumes`
 *    resumes (before the last, measured, one). 0.3 wants a resume to add rows independent of the
 *    number of steps it replays, and a checkpoint reached again while replaying to be the recorded
 *    one.
 * 4. LangGraph: `@langchain/langgraph-checkpoint-sqlite`'s `SqliteSaver` with one thread of as many
 *    checkpoints as steps (each holding the step's small input and output), written in one
 *    transaction; then a fresh saver on the file (open + the first `getTuple` of the thread's
 *    latest, the analogue of a fresh `SqliteLayer` + resume), and the median of 5 `getTuple`s on
 *    that open saver. Same durability as `SqliteLayer`: WAL (the saver's own) and
 *    `synchronous = NORMAL`.
 *
 * Everything runs in this one process: the first resume is the first time this process takes the
 * resume path (as a new process would), while steps and writes were warmed by the record.
 *
 * With `--figure`, prints one JSON line for `npm run bench`'s table (packages/server/benchmark/all.ts):
 * `{ "parts": { key: { measured, baseline } } }` with the parts `restore-fresh` and `restore-resumed`
 * (ms; baseline: the fresh LangGraph saver's open + `getTuple`), `replay-fresh` and `replay-resumed`
 * (ms; baseline: the first execution), `rows-steps` and `rows-checkpoints` (rows after the resumes;
 * baseline: rows after the first run).
 */
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { type Checkpoint as LangGraphCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint"
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite"
import { SqliteLayer } from "@multirun/sql"
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"

/** The part of better-sqlite3's API this script uses (the package ships no types). */
interface RawDatabase {
  prepare(source: string): { get(...params: ReadonlyArray<unknown>): unknown }
  close(): void
}
const RawSqlite = createRequire(import.meta.url)("better-sqlite3") as new(
  filename: string,
  options?: { readonly readonly?: boolean }
) => RawDatabase

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}
const steps = arg("steps", 10_000)
const resumes = arg("resumes", 10)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-bench-restore-"))
const filename = path.join(dir, "restore.db")
const name = "restore-bench"

/** The failure that stops every attempt of the run after its checkpoint, so it can be resumed. */
class Stop extends Data.TaggedError("Stop")<{}> {}

/** Step bodies that ran (not replayed) since the last reset. */
let executed = 0

/** Times of the current attempt, set by the program. */
const marks = { body: 0, replayed: 0 }

/**
 * The run's program, the same in every attempt: one agent, `steps` steps with small JSON inputs
 * and outputs, a checkpoint, then `Stop`. Records when it starts and when its last step returned.
 */
const program = Effect.gen(function*() {
  marks.body = performance.now()
  const run = yield* RunContext
  yield* withAgent("worker")(Effect.gen(function*() {
    for (let i = 0; i < steps; i++) {
      yield* Effect.sync(() => {
        executed++
        return { answer: `answer ${i}`, score: 0.9 }
      }).pipe(step("answer", { kind: "llm_call", input: { q: "what next?", i } }))
    }
    marks.replayed = performance.now()
    yield* run.checkpoint("end")
  }))
  return yield* new Stop()
})

/** Runs an attempt of the run in a fresh `SqliteLayer` on the file, to its `Stop`; returns the run's id. */
const attempt = (options: Parameters<typeof withRun>[0]) =>
  Effect.gen(function*() {
    let runId = ""
    const body = Effect.zipRight(Effect.flatMap(RunContext, (run) => Effect.sync(() => (runId = run.runId))), program)
    const started = performance.now()
    const exit = yield* Effect.exit(withRun(options)(body).pipe(Effect.provide(SqliteLayer({ filename }))))
    if (exit._tag === "Success" || !(exit.cause._tag === "Fail" && exit.cause.error instanceof Stop)) {
      return yield* Effect.dieMessage(`the attempt did not stop at its checkpoint: ${String(exit)}`)
    }
    return { runId, started }
  })

/** Step and checkpoint rows in the file (read with its own connection, no layer open). */
const rows = () => {
  const db = new RawSqlite(filename, { readonly: true })
  const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
  const result = { steps: count("multirun_steps"), checkpoints: count("multirun_checkpoints") }
  db.close()
  return result
}

/** One resume of the run: resume-to-body and replay, in ms. */
const resume = (runId: string) =>
  Effect.gen(function*() {
    executed = 0
    const { started } = yield* attempt({ name, resume: { runId, latest: true } })
    if (executed !== 0) {
      return yield* Effect.dieMessage(`${executed} of ${steps} recorded steps executed again instead of replaying`)
    }
    return { toBody: marks.body - started, replay: marks.replayed - marks.body }
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * LangGraph's SQLite checkpointer: a thread of `steps` checkpoints (each holding a step's input and
 * output, the previous as parent), put in one transaction; then a fresh saver's open + first
 * `getTuple` of the latest, and the median of 5 more `getTuple`s on it.
 */
const langGraph = Effect.promise(async () => {
  const file = path.join(dir, "langgraph.db")
  const thread = { configurable: { thread_id: "restore", checkpoint_ns: "" } }
  const writer = SqliteSaver.fromConnString(file)
  await writer.getTuple(thread) // creates the tables and turns on WAL
  writer.db.pragma("synchronous = NORMAL")
  writer.db.exec("BEGIN")
  let config: Parameters<typeof writer.put>[0] = thread
  for (let i = 0; i < steps; i++) {
    const checkpoint: LangGraphCheckpoint = {
      v: 4,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { input: { q: "what next?", i }, output: { answer: `answer ${i}`, score: 0.9 } },
      channel_versions: { input: i + 1, output: i + 1 },
      versions_seen: {}
    }
    config = await writer.put(config, checkpoint, { source: "loop", step: i, parents: {} })
  }
  writer.db.exec("COMMIT")
  writer.db.close()

  const started = performance.now()
  const saver = SqliteSaver.fromConnString(file)
  const first = await saver.getTuple(thread)
  const fresh = performance.now() - started
  const check = (tuple: typeof first) => {
    if ((tuple?.checkpoint.channel_values.input as { i: number } | undefined)?.i !== steps - 1) {
      throw new Error("LangGraph returned another checkpoint than the thread's latest")
    }
  }
  check(first)
  const warm: Array<number> = []
  for (let round = 0; round < 5; round++) {
    const at = performance.now()
    check(await saver.getTuple(thread))
    warm.push(performance.now() - at)
  }
  saver.db.close()
  return { fresh, warm: median(warm) }
})

const measure = Effect.gen(function*() {
  const { runId } = yield* attempt(name)
  const record = marks.replayed - marks.body
  if (executed !== steps) return yield* Effect.dieMessage(`${executed} of ${steps} steps ran in the first run`)
  const recorded = rows()
  const samples: Array<{ toBody: number; replay: number }> = []
  let resumed = recorded
  for (let k = 0; k <= resumes; k++) {
    if (k === resumes) resumed = rows()
    samples.push(yield* resume(runId))
  }
  const lg = yield* langGraph
  return { record, recorded, resumed, fresh: samples[0]!, last: samples[resumes]!, samples, lg }
})

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`

const main = Effect.gen(function*() {
  const figure = process.argv.includes("--figure")
  const r = yield* measure
  if (figure) {
    return console.log(JSON.stringify({
      parts: {
        "restore-fresh": { measured: r.fresh.toBody, baseline: r.lg.fresh },
        "restore-resumed": { measured: r.last.toBody, baseline: r.lg.fresh },
        "replay-fresh": { measured: r.fresh.replay, baseline: r.record },
        "replay-resumed": { measured: r.last.replay, baseline: r.record },
        "rows-steps": { measured: r.resumed.steps, baseline: r.recorded.steps },
        "rows-checkpoints": { measured: r.resumed.checkpoints, baseline: r.recorded.checkpoints }
      }
    }))
  }
  const count = steps.toLocaleString("en-US")
  const lines: ReadonlyArray<readonly [string, string]> = [
    [`first run: ${count} steps executed through SqliteLayer`, ms(r.record)],
    ["resume-to-body, fresh (first resume; target ≤ 10 ms)", ms(r.fresh.toBody)],
    [`resume-to-body after ${resumes} resumes (target ≤ 10 ms)`, ms(r.last.toBody)],
    [`replay of ${count} steps, fresh (target ≤ 30 ms)`, ms(r.fresh.replay)],
    [`replay of ${count} steps after ${resumes} resumes (target ≤ 30 ms)`, ms(r.last.replay)],
    [`LangGraph SqliteSaver: open + getTuple (latest) of ${count} checkpoints`, ms(r.lg.fresh)],
    ["LangGraph SqliteSaver: getTuple on the open saver (median of 5)", ms(r.lg.warm)],
    ["rows after the first run: steps, checkpoints", `${r.recorded.steps}, ${r.recorded.checkpoints}`],
    [`rows after ${resumes} resumes: steps, checkpoints`, `${r.resumed.steps}, ${r.resumed.checkpoints}`]
  ]
  const width = Math.max(...lines.map(([label]) => label.length))
  console.log(`multirun restore benchmark: ${count} steps, ${resumes} resumes, node ${process.version}`)
  for (const [label, value] of lines) console.log(`  ${label.padEnd(width)}  ${value}`)
  console.log(`  every resume, resume-to-body / replay (ms):`)
  r.samples.forEach((s, k) => console.log(`    ${String(k + 1).padStart(2)}: ${s.toBody.toFixed(1)} / ${s.replay.toFixed(1)}`))
})

Effect.runPromise(main).then(
  () => undefined,
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
