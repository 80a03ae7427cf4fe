/**
 * The outbox of `Remote.layer`: where write events wait until the server has taken them. Every
 * event is appended before the write returns and acknowledged once the server has answered for
 * it, so with a durable outbox (`SqliteOutbox.layer()` of `@multirun/sql`) a record handed to
 * the writer survives `kill -9` of the process and is shipped when the next `Remote.layer` to the
 * same server starts. {@link layerMemory} keeps nothing beyond the writer's own buffer.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer } from "effect"
import type { BackendError } from "./Errors.js"
import type * as Event from "./Event.js"

/**
 * A record the server will not take as it is (refused, too large alone, or failing past the
 * write deadline), with why: set aside by {@link OutboxService.setAside}, kept until a person
 * retries or drops it.
 *
 * @since 0.3.0
 */
export interface SetAside {
  readonly eventId: string
  readonly reason: string
}

/**
 * What an outbox holds that a writer to `target` does not send: records set aside, and records
 * of other targets that no live writer holds, counted per target. `location` names the outbox
 * (its file) for the commands that inspect it.
 *
 * @since 0.3.0
 */
export interface Stranded {
  readonly location: string
  readonly setAside: number
  readonly elsewhere: ReadonlyArray<{ readonly target: string; readonly count: number }>
}

/**
 * An outbox. `target` says where the events go (for `Remote.layer`: `project:NAME`, the project of
 * its key as the server names it), so that events are shipped only where they were meant to go,
 * whatever URL or key reaches that project.
 *
 * - `append`: stores events of `target`; once it succeeds they survive the process (durable
 *   outboxes). Fails with `BackendError` (reason `DiskFull`, `ReadOnly`, …) naming the file.
 * - `pending`: the events of `target` not acknowledged yet that no other live writer holds:
 *   those appended through this outbox and those left by writers that ended (a killed process,
 *   a closed outbox), in the order they were appended. The caller takes them over.
 * - `acknowledge`: forgets events by id, once the server has answered for them (stored,
 *   duplicate or rejected).
 * - `setAside`: keeps events out of `pending` with the reason they could not be delivered, so
 *   that the records after them flow; they stay in the outbox until retried or dropped.
 * - `stranded`: what this outbox holds that a writer to `target` will not send.
 *
 * @since 0.2.0
 */
export interface OutboxService {
  readonly append: (target: string, events: ReadonlyArray<Event.Event>) => Effect.Effect<void, BackendError>
  readonly pending: (target: string) => Effect.Effect<ReadonlyArray<Event.Event>, BackendError>
  readonly acknowledge: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, BackendError>
  readonly setAside: (records: ReadonlyArray<SetAside>) => Effect.Effect<void, BackendError>
  readonly stranded: (target: string) => Effect.Effect<Stranded | undefined, BackendError>
}

/**
 * The outbox service, required by `Remote.layer`: provide `SqliteOutbox.layer()` (durable, the
 * default for real use) or {@link layerMemory}.
 *
 * @since 0.2.0
 */
export class Outbox extends Context.Tag("@multirun/core/Outbox")<Outbox, OutboxService>() {}

/**
 * An outbox that keeps nothing: events live only in the writer's buffer until the server takes
 * them, so a killed process loses what it had buffered. For tests, short scripts and read-only
 * tools; it costs nothing per write.
 *
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<Outbox> = Layer.succeed(
  Outbox,
  Outbox.of({
    append: () => Effect.void,
    pending: () => Effect.succeed([]),
    acknowledge: () => Effect.void,
    setAside: () => Effect.void,
    stranded: () => Effect.succeed(undefined)
  })
)
