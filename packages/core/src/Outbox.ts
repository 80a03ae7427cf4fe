/**
 * The outbox of `RemoteLayer`: where write events wait until the server has taken them. Every
 * event is appended before the write returns and acknowledged once the server has answered for
 * it, so with a durable outbox (`SqliteOutbox.layer()` of `@multirun/sql`) a record handed to
 * the writer survives `kill -9` of the process and is shipped when the next `RemoteLayer` to the
 * same server starts. {@link layerMemory} keeps nothing beyond the writer's own buffer.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer } from "effect"
import type { BackendError } from "./Errors.js"
import type * as Event from "./Event.js"

/**
 * An outbox. `target` says where the events go (for `RemoteLayer`: the server's URL and a
 * fingerprint of its key), so that events are shipped only where they were meant to go.
 *
 * - `append`: stores events of `target`; once it succeeds they survive the process (durable
 *   outboxes). Fails with `BackendError` (reason `DiskFull`, `ReadOnly`, …) naming the file.
 * - `pending`: the events of `target` not acknowledged yet that no other live writer holds:
 *   those appended through this outbox and those left by writers that ended (a killed process,
 *   a closed outbox), in the order they were appended. The caller takes them over.
 * - `acknowledge`: forgets events by id, once the server has answered for them (stored,
 *   duplicate or rejected).
 *
 * @since 0.2.0
 */
export interface OutboxService {
  readonly append: (target: string, events: ReadonlyArray<Event.Event>) => Effect.Effect<void, BackendError>
  readonly pending: (target: string) => Effect.Effect<ReadonlyArray<Event.Event>, BackendError>
  readonly acknowledge: (eventIds: ReadonlyArray<string>) => Effect.Effect<void, BackendError>
}

/**
 * The outbox service, required by `RemoteLayer`: provide `SqliteOutbox.layer()` (durable, the
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
    acknowledge: () => Effect.void
  })
)
