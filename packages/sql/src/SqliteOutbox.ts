/**
 * The durable outbox of `Remote.layer`: a SQLite file (default `.multirun/outbox.db`) in WAL mode
 * with `synchronous = NORMAL`, so an appended record survives `kill -9` of the process. Each row
 * holds one write event as its JSON, keyed by event id, with its target (server URL and key
 * fingerprint) and its owner (the outbox that appended or took it over). Several processes may
 * share the file: an outbox takes over only the rows of outboxes that ended (closed, or whose
 * process is gone), so a live process's records are never sent twice by another one. The file is
 * meant for the processes of one machine.
 *
 * It drives better-sqlite3 itself with prepared statements, not through `@effect/sql`: an append
 * is one statement before every step returns, and the client's per-statement machinery cost
 * about as much again as the commit itself.
 *
 * @since 0.2.0
 */
/// <reference path="./internal/better-sqlite3.d.ts" />
import { BackendError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import { Outbox, type OutboxService, type SetAside } from "@multirun/core/Outbox"
import Database from "better-sqlite3"
import { Effect, Layer, Schema } from "effect"
import type { Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describeCause, reasonOf } from "./internal/sql.js"

/**
 * Options of {@link layer}: the file (default {@link defaultFilename}, relative to the working
 * directory; missing directories are created) and how long a statement waits for another
 * process's lock (`busyTimeoutMs`, default 5,000).
 *
 * @since 0.2.0
 */
export interface Options {
  readonly filename?: string | undefined
  readonly busyTimeoutMs?: number | undefined
}

/**
 * The outbox file when none is given.
 *
 * @since 0.2.0
 */
export const defaultFilename = ".multirun/outbox.db"

const decodeEvent = Schema.decodeUnknownEither(Schema.parseJson(Event.Event))

/** Ids per `DELETE … IN (…)`, well under SQLite's limit of bound parameters. */
const deleteChunk = 500

/** Whether the outbox named `owner` (`host pid token`, empty once released) still runs. */
const isLive = (owner: string): boolean => {
  const [host, pid] = owner.split(" ")
  if (owner === "" || host !== os.hostname()) return false
  try {
    process.kill(Number(pid), 0)
    return true
  } catch (error) {
    return (error as { readonly code?: unknown }).code === "EPERM"
  }
}

/**
 * Opens the file (creating its directory) in WAL mode with `synchronous = NORMAL` (a committed
 * statement survives `kill -9`), with its table.
 */
const open = (filename: string, busyTimeoutMs: number): Database => {
  fs.mkdirSync(path.dirname(filename), { recursive: true })
  const db = new Database(filename, { timeout: Math.max(0, Math.floor(busyTimeoutMs)) })
  try {
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = NORMAL")
    // a checkpoint (the only fsync under NORMAL) every 10,000 WAL pages, not SQLite's 1,000: an
    // append writes about 3 pages, so this syncs every ~3,300 records instead of every ~330 (the
    // outbox's largest cost), for a WAL of up to ~40 MB while the outbox is open
    db.pragma("wal_autocheckpoint = 10000")
    // no index but the event id's: each costs every append, and `pending` reads a table that is
    // nearly empty once the server has taken what was written
    db.exec(`CREATE TABLE IF NOT EXISTS multirun_outbox (
      event_id TEXT PRIMARY KEY,
      target TEXT NOT NULL,
      owner TEXT NOT NULL,
      event TEXT NOT NULL,
      set_aside TEXT
    )`)
    // a file of 0.2 has no set_aside column: its rows are all pending
    const columns = db.prepare("SELECT name FROM pragma_table_info('multirun_outbox')").all() as Array<{ name: string }>
    if (!columns.some((column) => column.name === "set_aside")) db.exec("ALTER TABLE multirun_outbox ADD COLUMN set_aside TEXT")
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

/**
 * The outbox over a SQLite file, open until the scope closes. Closing it releases its rows, so
 * that the next outbox takes them over.
 *
 * @since 0.2.0
 */
// one closure over the connection and its prepared statements: the service's methods share them
export const make = (options: Options = {}): Effect.Effect<OutboxService, BackendError, Scope.Scope> =>
  Effect.gen(function*() {
    const filename = path.resolve(options.filename ?? defaultFilename)
    const owner = `${os.hostname()} ${process.pid} ${randomUUID()}`
    const failed = (operation: string) => (error: unknown) => {
      const reason = reasonOf(error)
      const done = operation === "open" ? "opened" : operation === "pending" ? "read" : "written"
      return new BackendError({
        operation: `outbox.${operation}`,
        location: filename,
        detail: `the outbox file could not be ${done}: ${describeCause(error)}` +
          (operation === "open" ? "; give `SqliteOutbox.layer({ filename })` a writable path" : ""),
        ...(reason === undefined ? {} : { reason })
      })
    }
    const attempt = <A>(operation: string, run: () => A) => Effect.try({ try: run, catch: failed(operation) })

    const db = yield* Effect.acquireRelease(
      attempt("open", () => open(filename, options.busyTimeoutMs ?? 5_000)),
      (db) =>
        attempt("release", () => db.prepare("UPDATE multirun_outbox SET owner = '' WHERE owner = ?").run(owner)).pipe(
          Effect.catchAll((error) => Effect.logWarning(`multirun: ${error.message}`)),
          Effect.ensuring(Effect.sync(() => db.close()))
        )
    )
    const insert = db.prepare("INSERT INTO multirun_outbox (event_id, target, owner, event) VALUES (?, ?, ?, ?)")
    const insertAll = db.transaction((target: string, events: ReadonlyArray<Event.Event>) => {
      for (const event of events) insert.run(event.eventId, target, owner, JSON.stringify(event))
    })
    const owners = db.prepare("SELECT DISTINCT owner FROM multirun_outbox WHERE target = ? AND owner <> ? AND set_aside IS NULL")
    const owned = db.prepare(
      "SELECT event_id, event FROM multirun_outbox WHERE target = ? AND owner = ? AND set_aside IS NULL ORDER BY rowid"
    )
    const markAside = db.prepare("UPDATE multirun_outbox SET set_aside = ? WHERE event_id = ?")
    const markAll = db.transaction((records: ReadonlyArray<SetAside>) => {
      for (const { eventId, reason } of records) markAside.run(reason, eventId)
    })
    const others = db.prepare(
      `SELECT target, owner, set_aside IS NOT NULL AS aside, COUNT(*) AS n FROM multirun_outbox
        WHERE target <> ? OR set_aside IS NOT NULL GROUP BY target, owner, aside`
    )
    const deleteIn = (count: number) => db.prepare(`DELETE FROM multirun_outbox WHERE event_id IN (${Array(count).fill("?").join(", ")})`)
    const deleteChunkOf = deleteIn(deleteChunk)

    const append: OutboxService["append"] = (target, events) =>
      attempt("append", () =>
        events.length === 1
          ? insert.run(events[0]!.eventId, target, owner, JSON.stringify(events[0]))
          : insertAll(target, events))

    const pending: OutboxService["pending"] = (target) =>
      attempt("pending", () => {
        const ended = (owners.all(target, owner) as Array<{ readonly owner: string }>)
          .map((row) => row.owner)
          .filter((other) => !isLive(other))
        if (ended.length > 0) {
          // one statement: of two outboxes taking over the same rows, one gets them
          db.prepare(`UPDATE multirun_outbox SET owner = ? WHERE target = ? AND owner IN (${ended.map(() => "?").join(", ")})`)
            .run(owner, target, ...ended)
        }
        return owned.all(target, owner) as Array<{ readonly event_id: string; readonly event: string }>
      }).pipe(Effect.flatMap((rows) =>
        Effect.forEach(rows, (row) =>
          decodeEvent(row.event).pipe(Effect.mapError(() =>
            new BackendError({
              operation: "outbox.pending",
              reason: "Corrupt",
              location: filename,
              detail: `the outbox row of event ${row.event_id} is not a write event; ` +
                "delete the row (or the file, losing the records not yet sent) to go on"
            })
          )))
      ))

    const acknowledge: OutboxService["acknowledge"] = (eventIds) =>
      attempt("acknowledge", () => {
        for (let i = 0; i < eventIds.length; i += deleteChunk) {
          const ids = eventIds.slice(i, i + deleteChunk)
          const statement = ids.length === deleteChunk ? deleteChunkOf : deleteIn(ids.length)
          statement.run(...ids)
        }
      })

    const setAside: OutboxService["setAside"] = (records) => attempt("setAside", () => markAll(records))

    const stranded: OutboxService["stranded"] = (target) =>
      attempt("pending", () => {
        const rows = others.all(target) as Array<{ target: string; owner: string; aside: number; n: number }>
        let aside = 0
        const elsewhere = new Map<string, number>()
        for (const row of rows) {
          if (row.aside === 1) aside += row.n
          // another live writer sends its own records
          else if (!isLive(row.owner)) elsewhere.set(row.target, (elsewhere.get(row.target) ?? 0) + row.n)
        }
        return {
          location: filename,
          setAside: aside,
          elsewhere: [...elsewhere].map(([target, count]) => ({ target, count }))
        }
      })

    return Outbox.of({ append, pending, acknowledge, setAside, stranded })
  })

/**
 * The durable outbox for `Remote.layer`, over a SQLite file (default `.multirun/outbox.db`).
 *
 * @example
 * program.pipe(Effect.provide(Remote.layer({ url, apiKey }).pipe(Layer.provide([FetchHttpClient.layer, SqliteOutbox.layer()]))))
 *
 * @since 0.2.0
 */
export const layer = (options: Options = {}): Layer.Layer<Outbox, BackendError> => Layer.scoped(Outbox, make(options))

/**
 * One record of an outbox file, as `multirun outbox list` shows it: its event id, its target
 * (`project:NAME`, or `URL key:…` for files of 0.2), whether it waits to be sent (`pending`), is
 * being sent by a live process (`held`) or was set aside (with the `reason`), and which record it
 * holds.
 *
 * @since 0.3.0
 */
export interface Entry {
  readonly eventId: string
  readonly target: string
  readonly state: "pending" | "held" | "set aside"
  readonly record: string
  readonly reason: string | null
}

/**
 * Which records `retry` and `drop` act on: those of the given event ids, else those of `target`
 * (pending or set aside), else every record set aside. Records a live process holds are left alone.
 *
 * @since 0.3.0
 */
export interface Selection {
  readonly eventIds?: ReadonlyArray<string> | undefined
  readonly target?: string | undefined
}

/** The kind and id of the record an event row holds. */
const recordOf = (json: string): string => {
  const event = decodeEvent(json)
  if (event._tag === "Left") return "unreadable"
  const value = event.right
  return value._tag === "RunWritten"
    ? `run ${value.run.id}`
    : value._tag === "AgentWritten"
    ? `agent ${value.agent.id} of run ${value.agent.runId}`
    : `step "${value.step.name}" ${value.step.id} (seq ${value.step.seq}) of run ${value.step.runId}`
}

/** Runs `body` on an existing outbox file, closed afterwards. */
const onFile = <A>(filename: string, operation: string, body: (db: Database) => A): Effect.Effect<A, BackendError> =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(filename)) throw new Error(`no outbox file at ${filename}`)
      const db = open(filename, 5_000)
      try {
        return body(db)
      } finally {
        db.close()
      }
    },
    catch: (error) => {
      const reason = reasonOf(error)
      return new BackendError({
        operation: `outbox.${operation}`,
        location: path.resolve(filename),
        detail: describeCause(error),
        ...(reason === undefined ? {} : { reason })
      })
    }
  })

interface Row {
  readonly event_id: string
  readonly target: string
  readonly owner: string
  readonly event: string
  readonly set_aside: string | null
}

const rowsOf = (db: Database): Array<Row> =>
  db.prepare("SELECT event_id, target, owner, event, set_aside FROM multirun_outbox ORDER BY rowid").all() as Array<Row>

/** The rows of a selection that no live process holds. */
const selected = (db: Database, selection: Selection): Array<Row> => {
  const ids = selection.eventIds === undefined || selection.eventIds.length === 0 ? undefined : new Set(selection.eventIds)
  return rowsOf(db).filter((row) =>
    (row.set_aside !== null || !isLive(row.owner)) &&
    (ids !== undefined
      ? ids.has(row.event_id)
      : selection.target !== undefined
      ? row.target === selection.target
      : row.set_aside !== null)
  )
}

/**
 * Every record of an outbox file, in the order it was appended.
 *
 * @since 0.3.0
 */
export const entries = (filename: string): Effect.Effect<ReadonlyArray<Entry>, BackendError> =>
  onFile(filename, "list", (db) =>
    rowsOf(db).map((row) => ({
      eventId: row.event_id,
      target: row.target,
      state: row.set_aside !== null ? "set aside" : isLive(row.owner) ? "held" : "pending",
      record: recordOf(row.event),
      reason: row.set_aside
    })))

/**
 * Puts the selected records back in the queue, for the next `Remote.layer` of their target (or of
 * `to`, when given: a target such as `project:NAME`); how many.
 *
 * @since 0.3.0
 */
export const retry = (filename: string, selection: Selection, to?: string): Effect.Effect<number, BackendError> =>
  onFile(filename, "retry", (db) => {
    const rows = selected(db, selection)
    const requeue = db.prepare("UPDATE multirun_outbox SET set_aside = NULL, owner = '', target = ? WHERE event_id = ?")
    db.transaction(() => {
      for (const row of rows) requeue.run(to ?? row.target, row.event_id)
    })()
    return rows.length
  })

/**
 * Deletes the selected records from the outbox file; how many. They are never sent.
 *
 * @since 0.3.0
 */
export const drop = (filename: string, selection: Selection): Effect.Effect<number, BackendError> =>
  onFile(filename, "drop", (db) => {
    const rows = selected(db, selection)
    const remove = db.prepare("DELETE FROM multirun_outbox WHERE event_id = ?")
    db.transaction(() => {
      for (const row of rows) remove.run(row.event_id)
    })()
    return rows.length
  })
