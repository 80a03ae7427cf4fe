/**
 * The cost per step of `RemoteLayer`'s durable outbox: what `SqliteOutbox` adds to each write
 * event (one append before the write returns, one acknowledgement in the server's batch of
 * 1,000), next to `Outbox.layerMemory` and to better-sqlite3 inserting the same rows with one
 * prepared statement (the physical limit of a durable append). Best of 5 rounds.
 *
 *   npx tsx --conditions=@multirun/source packages/sql/benchmark/outbox.ts   (BENCH_EVENTS, default 10000)
 */
import { Event, Outbox } from "@multirun/core"
import { Context, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { SqliteOutbox } from "@multirun/sql"

/** The part of better-sqlite3's API the raw baseline uses (the package ships no types). */
interface RawDatabase {
  pragma(source: string): unknown
  exec(source: string): unknown
  prepare(source: string): { run(...params: ReadonlyArray<unknown>): unknown }
  close(): void
}
const RawSqlite = createRequire(import.meta.url)("better-sqlite3") as new(filename: string) => RawDatabase

const count = Number(process.env.BENCH_EVENTS ?? 10_000)
const rounds = 5
const batch = 1_000
const target = "http://127.0.0.1:7420 key:0123456789abcdef"
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-bench-outbox-"))

/** A step event as a tool call writes it: a small input and output. */
const eventOf = (seq: number): Event.Event =>
  Event.stepWritten({
    id: randomUUID(),
    runId: "bench-run",
    agentId: "bench-agent",
    name: "tool",
    kind: "tool_call",
    seq,
    inputHash: "0".repeat(64),
    input: JSON.stringify({ query: "q", i: seq }),
    output: JSON.stringify({ ok: true, n: seq }),
    error: null,
    status: "completed",
    startedAt: 1_700_000_000_000 + seq,
    endedAt: 1_700_000_000_001 + seq,
    latencyMs: 1,
    tokensUsed: 0,
    costUsd: 0,
    replayed: false
  })

/** Microseconds per event to append them one by one, and to acknowledge them by batch. */
const measure = (layer: Layer.Layer<Outbox.Outbox, unknown>) =>
  Effect.gen(function*() {
    const outbox = Context.get(yield* Layer.build(layer), Outbox.Outbox)
    const events = Array.from({ length: count }, (_, seq) => eventOf(seq))
    const started = performance.now()
    for (const event of events) yield* outbox.append(target, [event])
    const appended = performance.now()
    for (let i = 0; i < count; i += batch) {
      yield* outbox.acknowledge(events.slice(i, i + batch).map((event) => event.eventId))
    }
    const acknowledged = performance.now()
    return { append: ((appended - started) * 1000) / count, acknowledge: ((acknowledged - appended) * 1000) / count }
  }).pipe(Effect.scoped, Effect.orDie)

/** better-sqlite3 inserting the same rows into the same table, one autocommit statement each. */
const raw = (): number => {
  const db = new RawSqlite(path.join(fs.mkdtempSync(path.join(dir, "raw-")), "outbox.db"))
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  db.exec("CREATE TABLE multirun_outbox (event_id TEXT PRIMARY KEY, target TEXT NOT NULL, owner TEXT NOT NULL, event TEXT NOT NULL)")
  const insert = db.prepare("INSERT INTO multirun_outbox (event_id, target, owner, event) VALUES (?, ?, ?, ?)")
  const events = Array.from({ length: count }, (_, seq) => eventOf(seq))
  const started = performance.now()
  for (const event of events) insert.run(event.eventId, target, "owner", JSON.stringify(event))
  const micros = ((performance.now() - started) * 1000) / count
  db.close()
  return micros
}

const best = <A extends Record<string, number>>(samples: ReadonlyArray<A>): A =>
  samples.reduce((a, b) => (Object.values(b).reduce((x, y) => x + y) < Object.values(a).reduce((x, y) => x + y) ? b : a))

const main = Effect.gen(function*() {
  const memory: Array<{ append: number; acknowledge: number }> = []
  const file: Array<{ append: number; acknowledge: number }> = []
  const baseline: Array<{ insert: number }> = []
  for (let round = 0; round < rounds; round++) {
    memory.push(yield* measure(Outbox.layerMemory))
    const filename = path.join(fs.mkdtempSync(path.join(dir, "outbox-")), "outbox.db")
    file.push(yield* measure(SqliteOutbox.layer({ filename })))
    baseline.push({ insert: raw() })
  }
  const [m, f, b] = [best(memory), best(file), best(baseline)]
  const rows = {
    "Outbox.layerMemory": { "append µs": m.append, "acknowledge µs": m.acknowledge, "total µs/event": m.append + m.acknowledge },
    "SqliteOutbox": { "append µs": f.append, "acknowledge µs": f.acknowledge, "total µs/event": f.append + f.acknowledge },
    "better-sqlite3 insert (limit)": { "append µs": b.insert, "acknowledge µs": NaN, "total µs/event": b.insert }
  }
  console.log(`${count} step events, best of ${rounds} rounds, on ${dir}`)
  console.table(Object.fromEntries(Object.entries(rows).map(([name, row]) =>
    [name, Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value.toFixed(2))]))])))
  console.log(`SqliteOutbox append / better-sqlite3 insert: ${(f.append / b.insert).toFixed(2)}x`)
})

Effect.runPromise(main).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
