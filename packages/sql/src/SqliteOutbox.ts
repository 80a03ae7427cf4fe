/**
 * The durable outbox of `RemoteLayer`: a SQLite file (default `.multirun/outbox.db`) in WAL mode
 * with `synchronous = NORMAL`, so an appended record survives `kill -9` of the process. Each row
 * holds one write event as its JSON, keyed by event id, with its target (server URL and key
 * fingerprint) and its owner (the outbox that appended or took it over). Several processes may
 * share the file: an outbox takes over only the rows of outboxes that ended (closed, or whose
 * process is gone), so a live process's records are never sent twice by another one. The file is
 * meant for the processes of one machine.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { BackendError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import { Outbox, type OutboxService } from "@multirun/core/Outbox"
import { Cause, Effect, Layer, Schema } from "effect"
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
 * The outbox over the `SqlClient` of a SQLite file (`filename` names it in errors); creates its
 * table when missing. Closing the scope releases its rows, so that the next outbox takes them over.
 *
 * @since 0.2.0
 */
export const make = (filename: string): Effect.Effect<OutboxService, BackendError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const owner = `${os.hostname()} ${process.pid} ${randomUUID()}`
    const failed = (operation: string) => (error: unknown) => {
      const reason = reasonOf(error)
      return new BackendError({
        operation: `outbox.${operation}`,
        location: filename,
        detail: `the outbox file could not be ${operation === "pending" ? "read" : "written"}: ${describeCause(error)}`,
        ...(reason === undefined ? {} : { reason })
      })
    }
    const guarded = <A, E>(operation: string, effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.mapError(failed(operation)),
        Effect.catchAllDefect((defect) => Effect.fail(failed(operation)(defect)))
      )

    // no index but the event id's: each costs every append, and `pending` reads a table that is
    // nearly empty once the server has taken what was written
    yield* guarded("open", sql`CREATE TABLE IF NOT EXISTS multirun_outbox (
      event_id TEXT PRIMARY KEY,
      target TEXT NOT NULL,
      owner TEXT NOT NULL,
      event TEXT NOT NULL
    )`)

    yield* Effect.addFinalizer(() =>
      guarded("release", sql`UPDATE multirun_outbox SET owner = '' WHERE owner = ${owner}`).pipe(
        Effect.catchAll((error) => Effect.logWarning(`multirun: ${error.message}`))
      )
    )

    const insert = (target: string, event: Event.Event) =>
      sql`INSERT INTO multirun_outbox (event_id, target, owner, event)
        VALUES (${event.eventId}, ${target}, ${owner}, ${JSON.stringify(event)})`

    const append: OutboxService["append"] = (target, events) =>
      guarded(
        "append",
        events.length === 1
          ? insert(target, events[0]!)
          : sql.withTransaction(Effect.forEach(events, (event) => insert(target, event), { discard: true }))
      )

    const pending: OutboxService["pending"] = (target) =>
      guarded(
        "pending",
        Effect.gen(function*() {
          const owners = yield* sql<{ readonly owner: string }>`
            SELECT DISTINCT owner FROM multirun_outbox WHERE target = ${target} AND owner <> ${owner}`
          const ended = owners.map((row) => row.owner).filter((other) => !isLive(other))
          if (ended.length > 0) {
            // one statement: of two outboxes taking over the same rows, one gets them
            yield* sql`UPDATE multirun_outbox SET owner = ${owner}
              WHERE target = ${target} AND ${sql.in("owner", ended)}`
          }
          return yield* sql<{ readonly event_id: string; readonly event: string }>`
            SELECT event_id, event FROM multirun_outbox WHERE target = ${target} AND owner = ${owner} ORDER BY rowid`
        })
      ).pipe(Effect.flatMap((rows) =>
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
      guarded(
        "acknowledge",
        Effect.forEach(
          Array.from({ length: Math.ceil(eventIds.length / deleteChunk) }, (_, i) =>
            eventIds.slice(i * deleteChunk, (i + 1) * deleteChunk)),
          (ids) => sql`DELETE FROM multirun_outbox WHERE ${sql.in("event_id", ids)}`,
          { discard: true }
        )
      )

    return Outbox.of({ append, pending, acknowledge })
  })

/** Opens the file (creating its directory) in WAL mode with `synchronous = NORMAL`. */
const client = (filename: string, busyTimeoutMs: number): Layer.Layer<SqlClient.SqlClient, BackendError> => {
  const opened = (cause: unknown) =>
    new BackendError({
      operation: "outbox.open",
      location: filename,
      detail: `the outbox file could not be opened: ${describeCause(cause)}; ` +
        "give `SqliteOutbox.layer({ filename })` a writable path",
      ...(reasonOf(cause) === undefined ? {} : { reason: reasonOf(cause)! })
    })
  const setup = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`)
    yield* sql`PRAGMA synchronous = NORMAL`
  }).pipe(Effect.mapError(opened), Effect.catchAllDefect((defect) => Effect.fail(opened(defect)))))
  const sqlite = Layer.unwrapEffect(Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(filename), { recursive: true })
      return SqliteClient.layer({ filename })
    },
    catch: opened
  })).pipe(Layer.catchAllCause((cause) => Layer.fail(opened(Cause.squash(cause)))))
  return Layer.provideMerge(setup, sqlite)
}

/**
 * The durable outbox for `RemoteLayer`, over a SQLite file (default `.multirun/outbox.db`).
 *
 * @example
 * program.pipe(Effect.provide(RemoteLayer({ url, apiKey }).pipe(Layer.provide(SqliteOutbox.layer()))))
 *
 * @since 0.2.0
 */
export const layer = (options: Options = {}): Layer.Layer<Outbox, BackendError> => {
  const filename = path.resolve(options.filename ?? defaultFilename)
  return Layer.scoped(Outbox, make(filename)).pipe(Layer.provide(client(filename, options.busyTimeoutMs ?? 5_000)))
}
