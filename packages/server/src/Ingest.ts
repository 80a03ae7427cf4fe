/**
 * Batched ingest: the only way runs, agents and steps reach the server's database. A batch is
 * stored in one transaction, once per batch id.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import * as Event from "@multirun/core/Event"
import { SqlStore } from "@multirun/sql"
import { backendError } from "@multirun/sql/StoreError"
import { Effect, Either, ParseResult, Schema } from "effect"
import { compile } from "./internal/accepts.js"

const eventSchema = Schema.encodedBoundSchema(Event.Event)
const decodeEvent = Schema.decodeUnknownEither(eventSchema)
/** Accepts an event the decoder would return unchanged, at a fraction of its cost. */
const accepts = compile(eventSchema.ast) ?? (() => false)

/**
 * An event as the decoder reads it, or why it cannot: a value so hostile that the decoder cannot
 * even describe it (an object whose `toString` is not a function) is refused like any other.
 */
const decodeSafely = (event: unknown): Either.Either<Event.Event, string> => {
  try {
    const decoded = decodeEvent(event)
    return Either.isRight(decoded)
      ? Either.right(decoded.right as Event.Event)
      : Either.left(ParseResult.TreeFormatter.formatErrorSync(decoded.left))
  } catch (error) {
    return Either.left(
      `the event is not a record multirun can read (${error instanceof Error ? error.message : "unreadable"}); ` +
        "send JSON objects as `Event` defines them"
    )
  }
}

/**
 * The events of a batch that are valid records, and the others with their reason. Each event is
 * validated once: by the compiled check, or, when that cannot accept it (an invalid event, or
 * one with extra properties to strip), by the schema's decoder; a valid one is then checked for
 * what no database can store (`Event.unstorable`).
 */
const validate = (events: ReadonlyArray<unknown>) => {
  const valid: Array<{ readonly event: Event.Event; readonly index: number }> = []
  const rejected: Array<Api.RejectedEvent> = []
  const reject = (event: unknown, index: number, reason: string) => {
    const eventId = (event as { readonly eventId?: unknown } | null)?.eventId
    rejected.push(new Api.RejectedEvent({ index, eventId: typeof eventId === "string" ? eventId : null, reason }))
  }
  events.forEach((event, index) => {
    const decoded = accepts(event) ? Either.right(event as Event.Event) : decodeSafely(event)
    if (Either.isLeft(decoded)) return reject(event, index, decoded.left)
    // a record of the right shape may still hold what no database stores (U+0000, a bad id)
    const unstorable = Event.unstorable(decoded.right)
    if (unstorable !== undefined) return reject(event, index, unstorable.message)
    valid.push({ event: decoded.right, index })
  })
  return { valid, rejected }
}

/**
 * Writes a batch of write events into a project in one transaction, recording the batch id
 * (table `multirun_ingest_batches`) in the same transaction: a batch whose id is already
 * recorded is not written again (`duplicate: true`), so a client may retry a batch safely. Each
 * event is validated on its own: the valid ones are stored, the others (a record of the wrong
 * shape, or one holding what no database stores: U+0000, a lone surrogate, a bad id) are
 * answered in `rejected` with their reason, never a failure of the whole batch.
 *
 * @since 0.1.0
 */
export const ingest = (
  project: string,
  batch: Api.IngestPayload
): Effect.Effect<Api.IngestResult, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { rejected, valid } = validate(batch.events)
    const write = Effect.gen(function*() {
      const fresh = yield* sql`INSERT INTO multirun_ingest_batches ${sql.insert({ project, batch_id: batch.batchId })}
        ON CONFLICT (project, batch_id) DO NOTHING RETURNING batch_id`
      if (fresh.length === 0) return new Api.IngestResult({ stored: 0, duplicate: true, rejected: [] })
      const fenced = yield* SqlStore.writeEvents(project, valid.map(({ event }) => event))
      if (fenced.length === 0) return new Api.IngestResult({ stored: valid.length, duplicate: false, rejected })
      const refused = new Set(fenced)
      for (const { event, index } of valid) {
        if (!refused.has(event)) continue
        rejected.push(
          new Api.RejectedEvent({
            index,
            eventId: event.eventId,
            code: "Fenced",
            reason: `Fenced: the writer's lease epoch ${event.epoch} of run ${Event.runIdOf(event)} is older than ` +
              "the run's current one; another process owns the run now"
          })
        )
      }
      return new Api.IngestResult({
        stored: valid.length - fenced.length,
        duplicate: false,
        rejected: rejected.sort((a, b) => a.index - b.index)
      })
    })
    return yield* Effect.mapError(sql.withTransaction(write), backendError("ingest"))
  })
