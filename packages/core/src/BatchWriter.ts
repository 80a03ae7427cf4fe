/**
 * The buffered writer of the hot path, for backend authors: records are buffered in memory and
 * written in batches by one background fiber, in the order they were offered. It never drops a
 * record: when the buffer is full, `offer` waits (backpressure) until a batch is written.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, FiberId, Schedule } from "effect"
import type { Scope } from "effect"
import { BackendError } from "./Errors.js"

/**
 * What a writer has done so far. `backpressureWaits` counts offers that had to wait for room;
 * nothing is ever dropped, so there is no drop counter.
 *
 * @since 0.1.0
 */
export interface Stats {
  readonly offered: number
  readonly written: number
  readonly batches: number
  readonly buffered: number
  readonly backpressureWaits: number
  readonly failedAttempts: number
}

/**
 * A buffered, ordered, batching writer.
 *
 * @since 0.1.0
 */
export interface BatchWriter<A> {
  /** Buffers one record; waits while the buffer is full, fails if the backend keeps failing then. */
  readonly offer: (item: A) => Effect.Effect<void, BackendError>
  /** Returns once every record offered before it has been written. */
  readonly flush: Effect.Effect<void, BackendError>
  readonly stats: Effect.Effect<Stats>
}

/**
 * How to write and how much to buffer.
 *
 * - `write`: writes one batch (one transaction, one request); called again for each retry. The
 *   batch is the writer's: it is emptied once written, so `write` must keep no reference to it. A
 *   defect in it (a driver that throws, a failed COMMIT that @effect/sql turns into a defect)
 *   becomes `BackendError("Defect")`, so the writer keeps going and every waiter hears of it.
 * - `maxBatch`: records per batch (default 1,000).
 * - `weigh` / `maxBatchWeight`: a batch is also cut before its records' summed weight (e.g.
 *   their encoded bytes) passes `maxBatchWeight`; a record heavier than that goes alone.
 * - `capacity`: records buffered before `offer` waits (default 20,000).
 * - `retry`: retry policy of a failed batch (default: exponential from 50 ms, jittered, 5 times).
 * - `retryPause`: pause after a batch failed all its retries, before trying it again (default 1 s).
 * - `concurrency`: batches written at once (default 1). With more than one, batches may finish
 *   out of order; `flush` still returns only once every record offered before it is written.
 * - `isBarrier`: a batch holding a record for which it holds is written alone: only once every
 *   earlier batch is written, and before any later one starts. For records whose last write must
 *   win (e.g. a run's record, written again as it progresses) when `concurrency` is above 1.
 *
 * @since 0.1.0
 */
export interface Options<A> {
  readonly write: (batch: ReadonlyArray<A>) => Effect.Effect<void, BackendError>
  readonly maxBatch?: number | undefined
  readonly weigh?: ((item: A) => number) | undefined
  readonly maxBatchWeight?: number | undefined
  readonly capacity?: number | undefined
  readonly retry?: Schedule.Schedule<unknown, BackendError> | undefined
  readonly retryPause?: number | undefined
  readonly concurrency?: number | undefined
  readonly isBarrier?: ((item: A) => boolean) | undefined
}

/** A write that died, as a typed error: the writer must outlive a broken backend call. */
const defectError = (defect: unknown): BackendError =>
  defect instanceof BackendError ? defect : new BackendError({
    operation: "write",
    reason: "Defect",
    detail: `the backend's write died unexpectedly: ${Cause.pretty(Cause.die(defect)).split("\n")[0]}`
  })

/** A batch taken from the buffer: the offer index of its first record, and whether it is written yet. */
interface Flight {
  readonly first: number
  readonly size: number
  readonly barrier: boolean
  done: boolean
}

interface Waiter {
  readonly target: number
  readonly deferred: Deferred.Deferred<void, BackendError>
}

/**
 * Starts a writer whose background fiber lives in the scope; closing the scope flushes what is
 * buffered (a failure to do so is logged, with the number of records left).
 *
 * @since 0.1.0
 */
// one closure over the buffer, counters and waiters: its functions share that state, and split
// apart they would have to pass it around
export const make = <A>(options: Options<A>): Effect.Effect<BatchWriter<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxBatch = options.maxBatch ?? 1_000
    const capacity = Math.max(options.capacity ?? 20_000, maxBatch)
    const retry = options.retry ??
      Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(5)))
    const retryPause = options.retryPause ?? 1_000
    const concurrency = Math.max(1, options.concurrency ?? 1)
    const { isBarrier, maxBatchWeight, weigh } = options
    let buffer: Array<A> = []
    let offered = 0
    let written = 0
    let batches = 0
    let backpressureWaits = 0
    let failedAttempts = 0
    let lastError: BackendError | undefined
    let flushWaiters: Array<Waiter> = []
    let roomWaiters: Array<Deferred.Deferred<void, BackendError>> = []
    /** Records taken from the buffer into batches so far. */
    let taken = 0
    /** The batches taken and not yet known written as a prefix, in offer order. */
    const flights: Array<Flight> = []
    /** Batches being written (taken, not done). */
    let running = 0
    const wake = yield* Effect.makeLatch(false)

    /** How many buffered records the next batch takes: at most `maxBatch`, and under the weight. */
    const batchSize = (): number => {
      const most = Math.min(buffer.length, maxBatch)
      if (weigh === undefined || maxBatchWeight === undefined) return most
      let weight = 0
      for (let i = 0; i < most; i++) {
        weight += weigh(buffer[i]!)
        if (weight > maxBatchWeight) return Math.max(i, 1)
      }
      return most
    }

    /** Whether the first `size` buffered records hold a barrier record. */
    const holdsBarrier = (size: number): boolean => {
      if (isBarrier === undefined) return false
      for (let i = 0; i < size; i++) if (isBarrier(buffer[i]!)) return true
      return false
    }

    /** How many offered records are written with every record offered before them. */
    const writtenPrefix = (): number => flights.length === 0 ? taken : flights[0]!.first

    const settle = () => {
      const prefix = writtenPrefix()
      const pending: Array<Waiter> = []
      for (const waiter of flushWaiters) {
        if (prefix >= waiter.target) Deferred.unsafeDone(waiter.deferred, Effect.void)
        else if (lastError !== undefined) Deferred.unsafeDone(waiter.deferred, Effect.fail(lastError))
        else pending.push(waiter)
      }
      flushWaiters = pending
      if (buffer.length < capacity || lastError !== undefined) {
        const waiting = roomWaiters
        roomWaiters = []
        for (const deferred of waiting) {
          Deferred.unsafeDone(deferred, lastError === undefined ? Effect.void : Effect.fail(lastError))
        }
      }
    }

    /** Writes one batch until it is written: its retries, then after each failed round a pause. */
    const writeBatch = (flight: Flight, batch: Array<A>): Effect.Effect<void> => {
      const attempt = Effect.suspend(() => options.write(batch)).pipe(
        Effect.catchAllDefect((defect) => Effect.fail(defectError(defect))),
        Effect.tapError(() => Effect.sync(() => failedAttempts++)),
        Effect.retry(retry)
      )
      const untilWritten: Effect.Effect<void> = Effect.matchEffect(attempt, {
        onSuccess: () =>
          Effect.sync(() => {
            flight.done = true
            running--
            while (flights.length > 0 && flights[0]!.done) flights.shift()
            written += flight.size
            batches++
            lastError = undefined
            // Emptied, so that a batch array the GC already moved to the old generation (it can
            // outlive its write there until a full collection) keeps no records alive.
            batch.length = 0
            settle()
            if (buffer.length > 0) wake.unsafeOpen()
          }),
        onFailure: (error) =>
          Effect.suspend(() => {
            lastError = error
            settle()
            return Effect.zipRight(Effect.sleep(retryPause), untilWritten)
          })
      })
      return untilWritten
    }

    /** Starts writing the next batch if there is one and it may start now. */
    const startNext: Effect.Effect<void> = Effect.suspend(() => {
      const blocked = running >= concurrency || (running > 0 && flights.some((flight) => flight.barrier && !flight.done))
      if (buffer.length === 0 || blocked) {
        wake.unsafeClose()
        // a waiter that came while batches are written hears of their outcome, not of an older failure
        if (running === 0) settle()
        return Effect.void
      }
      const size = batchSize()
      const barrier = holdsBarrier(size)
      if (barrier && running > 0) {
        wake.unsafeClose()
        return Effect.void
      }
      const batch = buffer.length <= size ? buffer : buffer.slice(0, size)
      buffer = buffer.length <= size ? [] : buffer.slice(size)
      const flight: Flight = { first: taken, size, barrier, done: false }
      taken += size
      flights.push(flight)
      running++
      if (buffer.length === 0) wake.unsafeClose()
      if (roomWaiters.length > 0 && buffer.length < capacity) {
        const waiting = roomWaiters
        roomWaiters = []
        for (const deferred of waiting) Deferred.unsafeDone(deferred, Effect.void)
      }
      // a child of the writer's fiber: interrupted with it, after the closing flush
      return Effect.asVoid(Effect.fork(writeBatch(flight, batch)))
    })

    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(wake.await, startNext)).pipe(Effect.interruptible))

    const waitFor = (target: number): Effect.Effect<void, BackendError> =>
      Effect.suspend(() => {
        if (writtenPrefix() >= target) return Effect.void
        const deferred = Deferred.unsafeMake<void, BackendError>(FiberId.none)
        flushWaiters.push({ target, deferred })
        wake.unsafeOpen()
        return Deferred.await(deferred)
      })

    const flush = Effect.suspend(() => waitFor(offered))

    yield* Effect.addFinalizer(() =>
      flush.pipe(
        Effect.timeout("30 seconds"),
        Effect.catchAll((error) =>
          Effect.logError(
            `multirun: ${offered - written} buffered records could not be written before shutdown: ${String(error)}`
          )
        )
      )
    )

    const offer = (item: A): Effect.Effect<void, BackendError> =>
      Effect.suspend(() => {
        if (buffer.length < capacity) {
          buffer.push(item)
          offered++
          if (buffer.length === 1) wake.unsafeOpen()
          return Effect.void
        }
        if (lastError !== undefined) return Effect.fail(lastError)
        backpressureWaits++
        const deferred = Deferred.unsafeMake<void, BackendError>(FiberId.none)
        roomWaiters.push(deferred)
        wake.unsafeOpen()
        return Effect.zipRight(Deferred.await(deferred), offer(item))
      })

    return {
      offer,
      flush,
      stats: Effect.sync(() => ({
        offered,
        written,
        batches,
        buffered: buffer.length,
        backpressureWaits,
        failedAttempts
      }))
    }
  })
