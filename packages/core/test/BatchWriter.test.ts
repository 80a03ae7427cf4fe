import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schedule, TestClock } from "effect"
import * as BatchWriter from "../src/BatchWriter.js"
import { BackendError } from "../src/Errors.js"

describe("BatchWriter", () => {
  it.scopedLive("writes in order, in batches, and flush waits for everything offered before it", () =>
    Effect.gen(function*() {
      const batches: Array<ReadonlyArray<number>> = []
      const writer = yield* BatchWriter.make<number>({
        maxBatch: 100,
        write: (batch) => Effect.sync(() => void batches.push([...batch]))
      })
      for (let i = 0; i < 1_000; i++) yield* writer.offer(i)
      yield* writer.flush
      assert.deepStrictEqual(batches.flat(), Array.from({ length: 1_000 }, (_, i) => i))
      assert.isTrue(batches.every((batch) => batch.length <= 100))
      assert.isTrue(batches.length < 1_000)
      const stats = yield* writer.stats
      assert.deepStrictEqual([stats.offered, stats.written, stats.buffered], [1_000, 1_000, 0])
    }))

  it.scopedLive("empties a batch once written (no record stays reachable from it), not before a retry", () =>
    Effect.gen(function*() {
      const given: Array<ReadonlyArray<number>> = []
      const seen: Array<ReadonlyArray<number>> = []
      let failures = 1
      const writer = yield* BatchWriter.make<number>({
        maxBatch: 10,
        retry: Schedule.recurs(1),
        write: (batch) =>
          Effect.suspend(() => {
            given.push(batch)
            seen.push([...batch])
            return failures-- > 0
              ? Effect.fail(new BackendError({ operation: "write", reason: "ConnectionLost", detail: "down" }))
              : Effect.void
          })
      })
      for (let i = 0; i < 25; i++) yield* writer.offer(i)
      yield* writer.flush
      // the failed attempt saw the same records as its retry
      assert.deepStrictEqual(seen[0], seen[1])
      assert.deepStrictEqual([...new Set(seen.flat())], Array.from({ length: 25 }, (_, i) => i))
      assert.isTrue(given.every((batch) => batch.length === 0))
    }))

  it.scoped("applies backpressure instead of dropping when the buffer is full", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const written: Array<number> = []
      const writer = yield* BatchWriter.make<number>({
        maxBatch: 10,
        capacity: 10,
        write: (batch) => Effect.zipRight(Deferred.await(gate), Effect.sync(() => void written.push(...batch)))
      })
      const producer = yield* Effect.fork(Effect.forEach(Array.from({ length: 100 }, (_, i) => i), writer.offer))
      // wait until the producer is held back (bounded: the writer is stuck, so this must happen)
      const held = yield* Effect.repeat(Effect.zipLeft(writer.stats, Effect.yieldNow()), {
        until: (stats) => stats.backpressureWaits > 0,
        times: 10_000
      })
      assert.isAbove(held.backpressureWaits, 0)
      // and it stays held back while the backend is stuck
      yield* Effect.repeatN(Effect.yieldNow(), 1_000)
      const blocked = yield* writer.stats
      assert.isTrue(blocked.offered <= 20, `offered ${blocked.offered} while the backend was stuck`)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(producer)
      yield* writer.flush
      assert.deepStrictEqual(written, Array.from({ length: 100 }, (_, i) => i))
    }))

  it.scopedLive("retries a failing batch and reports a persistent failure to flush, keeping the records", () =>
    Effect.gen(function*() {
      let failures = 2
      const written: Array<string> = []
      const writer = yield* BatchWriter.make<string>({
        retry: Schedule.recurs(5),
        retryPause: 0,
        write: (batch) =>
          failures-- > 0
            ? Effect.fail(new BackendError({ operation: "write", detail: "flaky" }))
            : Effect.sync(() => void written.push(...batch))
      })
      yield* writer.offer("a")
      yield* writer.flush
      assert.deepStrictEqual(written, ["a"])
      assert.strictEqual((yield* writer.stats).failedAttempts, 2)

      let down = true
      const stuck = yield* BatchWriter.make<string>({
        retry: Schedule.recurs(1),
        retryPause: 0,
        write: (batch) =>
          down ? Effect.fail(new BackendError({ operation: "write", detail: "database is down" })) : Effect.sync(() =>
            void written.push(...batch)
          )
      })
      yield* stuck.offer("b")
      const error = yield* Effect.flip(stuck.flush)
      assert.strictEqual(error.detail, "database is down")
      down = false
      yield* stuck.flush
      assert.deepStrictEqual(written, ["a", "b"])
    }))

  it.scopedLive("a write that dies fails every waiter with BackendError(Defect), and the writer recovers", () =>
    Effect.gen(function*() {
      let dying = true
      const written: Array<string> = []
      const writer = yield* BatchWriter.make<string>({
        retry: Schedule.recurs(1),
        retryPause: 0,
        write: (batch) =>
          dying ? Effect.die(new Error("COMMIT failed: disk I/O error")) : Effect.sync(() => void written.push(...batch))
      })
      yield* writer.offer("a")
      const errors = yield* Effect.all([Effect.flip(writer.flush), Effect.flip(writer.flush)], { concurrency: 2 })
      for (const error of errors) {
        assert.strictEqual(error._tag, "BackendError")
        assert.strictEqual(error.reason, "Defect")
        assert.include(error.message, "disk I/O error")
      }
      dying = false
      yield* writer.offer("b")
      yield* writer.flush
      assert.deepStrictEqual(written, ["a", "b"])
    }))

  it.scoped("with concurrency, batches finish out of order but flush waits for every earlier one; a barrier batch goes alone", () =>
    Effect.gen(function*() {
      const gates = new Map<number, Deferred.Deferred<void>>()
      const started: Array<ReadonlyArray<number>> = []
      let inFlight = 0
      let mostInFlight = 0
      const overlapsOfBarriers: Array<number> = []
      let barrierInFlight = false
      let startedBesideBarrier = 0
      const writer = yield* BatchWriter.make<number>({
        maxBatch: 10,
        concurrency: 3,
        // the multiples of 50 stand for records whose last write must win
        isBarrier: (n) => n % 50 === 0,
        write: (batch) =>
          Effect.gen(function*() {
            const gate = yield* Deferred.make<void>()
            gates.set(batch[0]!, gate)
            started.push([...batch]) // a copy: the writer empties a batch once written
            mostInFlight = Math.max(mostInFlight, ++inFlight)
            if (barrierInFlight) startedBesideBarrier++
            const barrier = batch.some((n) => n % 50 === 0)
            if (barrier) {
              overlapsOfBarriers.push(inFlight - 1)
              barrierInFlight = true
            }
            yield* Deferred.await(gate)
            if (barrier) barrierInFlight = false
            inFlight--
          })
      })
      for (let i = 1; i <= 20; i++) yield* writer.offer(i)
      // the batches 1-10 and 11-20 are written at once (the test clock moves once every fiber waits)
      yield* TestClock.adjust("20 millis")
      assert.deepStrictEqual(started.map((batch) => batch[0]), [1, 11])
      const flushed = yield* Effect.fork(writer.flush)
      yield* Deferred.succeed(gates.get(11)!, undefined) // the later batch ends first
      yield* TestClock.adjust("20 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(flushed)), "flush waits for the earlier batch")
      yield* Deferred.succeed(gates.get(1)!, undefined)
      yield* Fiber.join(flushed)

      // 41-50 and 91-100 hold a barrier: each is written with no other batch in flight
      for (let i = 21; i <= 120; i++) yield* writer.offer(i)
      const all = yield* Effect.fork(writer.flush)
      while (Option.isNone(yield* Fiber.poll(all))) {
        yield* TestClock.adjust("5 millis")
        for (const [first, gate] of gates) {
          if (first > 20) yield* Deferred.succeed(gate, undefined)
        }
      }
      assert.deepStrictEqual(started.flat(), Array.from({ length: 120 }, (_, i) => i + 1))
      assert.strictEqual(mostInFlight, 3)
      assert.isTrue(overlapsOfBarriers.length >= 2 && overlapsOfBarriers.every((others) => others === 0))
      assert.strictEqual(startedBesideBarrier, 0, "no batch starts while a barrier batch is written")
    }))
})
