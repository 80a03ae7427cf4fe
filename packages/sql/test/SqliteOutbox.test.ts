import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { Event, Outbox } from "@multirun/core"
import { agentRecord, runRecord, stepRecord, tempDir, tempFile } from "@multirun/core/test-utils"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SqliteOutbox } from "../src/index.js"

const target = "http://127.0.0.1:7420 key:0123456789abcdef"
const other = "http://127.0.0.1:7421 key:0123456789abcdef"

/** A run, its agent and `steps` steps, as write events. */
const eventsOf = (runId: string, steps: number): Array<Event.Event> => [
  Event.runWritten(runRecord(runId)),
  Event.agentWritten(agentRecord(`${runId}-agent`, runId)),
  ...Array.from({ length: steps }, (_, seq) => Event.stepWritten(stepRecord(`${runId}-step-${seq}`, runId, `${runId}-agent`, seq)))
]

/** An outbox over the file, open until `scope` closes. */
const open = (filename: string, scope: Scope.Scope) =>
  Effect.map(Layer.buildWithScope(SqliteOutbox.layer({ filename }), scope), Context.get(Outbox.Outbox))

const ids = (events: ReadonlyArray<Event.Event>) => events.map((event) => event.eventId)

/** Runs SQL on the outbox file directly. */
const onFile = <A, E>(filename: string, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.provide(effect, SqliteClient.layer({ filename }))

describe("SqliteOutbox", () => {
  it.scopedLive("keeps appended events per target, in order, until they are acknowledged", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const outbox = yield* open(filename, yield* Effect.scope)
      const first = eventsOf("run-1", 3)
      const second = eventsOf("run-2", 1)
      yield* outbox.append(target, first.slice(0, 1))
      yield* outbox.append(target, first.slice(1))
      yield* outbox.append(other, second)

      const pending = yield* outbox.pending(target)
      assert.deepStrictEqual(ids(pending), ids(first))
      // the events come back as they went in, every field
      assert.deepStrictEqual(pending.map((event) => JSON.stringify(event)), first.map((event) => JSON.stringify(event)))
      assert.deepStrictEqual(ids(yield* outbox.pending(other)), ids(second))

      yield* outbox.acknowledge(ids(first).slice(0, 3))
      assert.deepStrictEqual(ids(yield* outbox.pending(target)), ids(first).slice(3))
      yield* outbox.acknowledge([...ids(first), ...ids(second)])
      assert.deepStrictEqual(yield* outbox.pending(target), [])
      assert.deepStrictEqual(yield* outbox.pending(other), [])
    }))

  it.scopedLive("creates the file's directory, in WAL mode", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir("outbox"), "nested", "outbox.db")
      yield* open(filename, yield* Effect.scope)
      assert.isTrue(fs.existsSync(filename))
      const [mode] = yield* onFile(filename, Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ journal_mode: string }>`PRAGMA journal_mode`))
      assert.strictEqual(mode!.journal_mode, "wal")
    }))

  it.scopedLive("an outbox opened after another one closed takes over what it left", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const events = eventsOf("run-1", 5)
      const firstScope = yield* Scope.make()
      const first = yield* open(filename, firstScope)
      yield* first.append(target, events)
      yield* first.acknowledge(ids(events).slice(0, 2))
      yield* Scope.close(firstScope, Exit.void)

      const second = yield* open(filename, yield* Effect.scope)
      assert.deepStrictEqual(ids(yield* second.pending(target)), ids(events).slice(2))
      assert.deepStrictEqual(yield* second.pending(other), [])
    }))

  it.scopedLive("two open outboxes on one file never take each other's events", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const aScope = yield* Scope.make()
      const a = yield* open(filename, aScope)
      const b = yield* open(filename, yield* Effect.scope)
      const ofA = eventsOf("run-a", 20)
      const ofB = eventsOf("run-b", 20)
      yield* Effect.all([
        Effect.forEach(ofA, (event) => a.append(target, [event]), { discard: true }),
        Effect.forEach(ofB, (event) => b.append(target, [event]), { discard: true })
      ], { concurrency: 2 })
      assert.deepStrictEqual(ids(yield* a.pending(target)), ids(ofA))
      assert.deepStrictEqual(ids(yield* b.pending(target)), ids(ofB))

      // once a is closed, b takes over what a left, in the order it was appended
      yield* a.acknowledge(ids(ofA).slice(0, 10))
      yield* Scope.close(aScope, Exit.void)
      const taken = ids(yield* b.pending(target))
      assert.sameMembers(taken, [...ids(ofA).slice(10), ...ids(ofB)])
      assert.deepStrictEqual(taken.filter((id) => ids(ofA).includes(id)), ids(ofA).slice(10))
    }))

  it.scopedLive("takes over the events of a process that is gone, not of one that still runs", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const outbox = yield* open(filename, yield* Effect.scope)
      const gone = spawnSync(process.execPath, ["-e", ""]).pid
      const [dead, live] = [eventsOf("run-dead", 2), eventsOf("run-live", 2)]
      yield* onFile(filename, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.forEach([...dead.map((event) => [event, gone] as const), ...live.map((event) => [event, process.pid] as const)], ([event, pid]) =>
          sql`INSERT INTO multirun_outbox (event_id, target, owner, event)
            VALUES (${event.eventId}, ${target}, ${`${os.hostname()} ${pid} token`}, ${JSON.stringify(event)})`, { discard: true })))
      assert.deepStrictEqual(ids(yield* outbox.pending(target)), ids(dead))
    }))

  it.scopedLive("a record set aside leaves pending with its reason, the later ones flow; stranded counts it and other targets", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      // an ended outbox left records for another target; this one's own are held, not stranded
      const endedScope = yield* Scope.make()
      yield* Effect.flatMap(open(filename, endedScope), (ended) => ended.append(other, eventsOf("run-2", 1)))
      yield* Scope.close(endedScope, Exit.void)
      const outbox = yield* open(filename, yield* Effect.scope)
      const events = eventsOf("run-1", 3)
      yield* outbox.append(target, events)
      yield* outbox.append(other, eventsOf("run-3", 0))
      yield* outbox.setAside([{ eventId: events[2]!.eventId, reason: "refused: too large" }])
      assert.deepStrictEqual(ids(yield* outbox.pending(target)), ids(events).filter((_, i) => i !== 2))
      const stranded = yield* outbox.stranded(target)
      assert.deepStrictEqual(stranded, { location: filename, setAside: 1, elsewhere: [{ target: other, count: 3 }] })
      const entries = yield* SqliteOutbox.entries(filename)
      assert.deepStrictEqual(
        entries.filter((entry) => entry.state === "set aside").map((entry) => [entry.eventId, entry.reason]),
        [[events[2]!.eventId, "refused: too large"]]
      )
    }))

  it.scopedLive("a file of 0.2 (no set_aside column) opens, and its rows are pending", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const [event] = eventsOf("run-old", 0)
      yield* onFile(filename, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.zipRight(
          sql`CREATE TABLE multirun_outbox (event_id TEXT PRIMARY KEY, target TEXT NOT NULL, owner TEXT NOT NULL, event TEXT NOT NULL)`,
          sql`INSERT INTO multirun_outbox VALUES (${event!.eventId}, ${target}, '', ${JSON.stringify(event)})`
        )))
      const outbox = yield* open(filename, yield* Effect.scope)
      assert.deepStrictEqual(ids(yield* outbox.pending(target)), [event!.eventId])
    }))

  it.scopedLive("a row that is not a write event is BackendError(Corrupt) naming the file and the event", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("outbox.db")
      const outbox = yield* open(filename, yield* Effect.scope)
      yield* onFile(filename, Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`INSERT INTO multirun_outbox (event_id, target, owner, event) VALUES ('bad-1', ${target}, '', '{"_tag":"Nope"}')`))
      const error = yield* Effect.flip(outbox.pending(target))
      assert.strictEqual(error.reason, "Corrupt")
      assert.strictEqual(error.location, filename)
      assert.include(error.detail, "bad-1")
    }))

  it.scopedLive("a file that cannot be made fails the layer with BackendError naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("outbox")
      fs.writeFileSync(path.join(dir, "plain"), "")
      const filename = path.join(dir, "plain", "outbox.db")
      const error = yield* Effect.flip(open(filename, yield* Effect.scope))
      assert.strictEqual(error._tag, "BackendError")
      assert.strictEqual(error.operation, "outbox.open")
      assert.strictEqual(error.location, filename)
    }))
})
