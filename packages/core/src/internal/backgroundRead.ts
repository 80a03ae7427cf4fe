/**
 * The read a resume makes of its run's records (the timeline, totals, agents cut off), run beside
 * the run's program instead of before it: the program starts at once, and what needs the records
 * waits for them.
 */
import { Deferred, Effect, FiberId } from "effect"
import type { BackendError, CheckpointError } from "../Errors.js"

type ReadError = CheckpointError | BackendError

/** One read of a resume, run once by {@link BackgroundRead.beside}. */
export class BackgroundRead {
  private readonly done: Deferred.Deferred<void, ReadError> = Deferred.unsafeMake(FiberId.none)
  private pending: Effect.Effect<void, ReadError> | undefined
  /** Whether the read is over and succeeded. */
  succeeded = false
  /** Whether the read failed: the program is then stopped and the run's end writes nothing. */
  failed = false

  constructor(read: Effect.Effect<void, ReadError>) {
    this.pending = Effect.onExit(read, (exit) =>
      Effect.sync(() => {
        if (exit._tag === "Success") this.succeeded = true
        else this.failed = true
      }))
  }

  /**
   * `f()` once the read succeeded. A failed read stops the program ({@link beside}): what waits
   * for it waits to be interrupted, even inside an uninterruptible region (a `withAgent`'s start).
   */
  after<A, E>(f: () => Effect.Effect<A, E>): Effect.Effect<A, E> {
    return this.succeeded
      ? f()
      : Effect.flatMap(Effect.interruptible(Effect.catchAll(Deferred.await(this.done), () => Effect.never)), f)
  }

  /**
   * The run's program beside the read: the program starts first, the read runs as soon as the
   * program waits (for it or for anything else), and a failed read stops the program with its
   * error. The read is never cut short: a program that ends first waits for it, so the run's end
   * is recorded from what was read.
   */
  beside<A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E | ReadError, R> {
    const read = this.pending
    if (read === undefined) return program
    this.pending = undefined
    const reader = Effect.uninterruptible(Effect.zipRight(Effect.yieldNow(), Deferred.complete(this.done, read))).pipe(
      Effect.zipRight(Deferred.await(this.done)),
      Effect.zipRight(Effect.never)
    )
    return Effect.raceFirst(program, reader)
  }
}
