/**
 * Conformance for stalled runs: a `running` run whose lease expired reads as stalled, with its
 * owner and when it was last seen, on every read and filter, derived on the backend's own clock
 * and never stored. Called by `conformance`, so it holds on every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Clock, Effect, Option, Schema, TestClock, TestServices } from "effect"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import * as Lease from "../../src/Lease.js"
import * as Run from "../../src/Run.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { lapse } from "./leases.js"
import { runRecord } from "./records.js"
import { onBackend } from "./backend.js"

const minute = 60_000
const deadOwner = "pid 4242 on gone-host (deadbeef)"

/**
 * Four running runs and an ended one, with leases on the backend's clock (a database's, a
 * server's; `TestClock`, set to real time, for the memory backend): `dead` (its owner took a
 * short lease and was not seen again), `released` (its owner gave the lease up without ending
 * the run), `live` (taken now), `old` (no lease: written before 0.2), `done` (ended). Returns
 * when the dead and the released owners were last seen.
 */
const seed = Effect.gen(function*() {
  const client = yield* MultiRunClient
  const now = yield* TestServices.provideLive(Clock.currentTimeMillis)
  yield* TestClock.setTime(now)
  const ids = ["dead", "released", "live", "old", "done"] as const
  for (const [i, id] of ids.entries()) {
    yield* client.writeRun(runRecord(`stalled-${id}`, {
      name: id,
      startedAt: now - (10 - i) * minute,
      ...(id === "done" ? { status: "completed", endedAt: now - minute } : {})
    }))
  }
  yield* client.flush
  const released = yield* client.acquireLease({ runId: "stalled-released", owner: "quitter", ttlMs: 10 * minute })
  yield* client.releaseLease(released)
  const dead = yield* client.acquireLease({ runId: "stalled-dead", owner: deadOwner, ttlMs: Lease.minTtlMs })
  const done = yield* client.acquireLease({ runId: "stalled-done", owner: "finisher", ttlMs: Lease.minTtlMs })
  yield* client.releaseLease(done)
  yield* lapse(Lease.minTtlMs + 50)
  yield* client.acquireLease({ runId: "stalled-live", owner: "worker", ttlMs: 10 * minute })
  return { dead: dead.acquiredAt, released: released.acquiredAt }
})

const names = (runs: ReadonlyArray<Run.Encoded>) => runs.map((run) => run.name)

/** Registers the stalled-run tests for one backend. */
export const stalledConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  describe("stalled runs", () => {
    it.effect("a running run whose lease expired reads as stalled, with its owner and last sighting; filters see it", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const seen = yield* seed
        const dead = Option.getOrThrow(yield* client.getRun("stalled-dead"))
        assert.strictEqual(dead.status, "running", "the stored status is left as it is")
        assert.deepStrictEqual(dead.stalled, { owner: deadOwner, lastSeenAt: seen.dead })
        const released = Option.getOrThrow(yield* client.getRun("stalled-released"))
        assert.deepStrictEqual(released.stalled, { owner: "quitter", lastSeenAt: seen.released })
        for (const id of ["live", "old", "done"]) {
          const other = Option.getOrThrow(yield* client.getRun(`stalled-${id}`))
          assert.isFalse("stalled" in other, `${id} is not stalled`)
          assert.isNull(Schema.decodeSync(Run.Run)(other).stalled)
        }
        const decoded = Schema.decodeSync(Run.Run)(dead).stalled
        assert.strictEqual(decoded?.lastSeenAt.epochMillis, seen.dead)

        const all = yield* client.listRuns()
        assert.deepStrictEqual(names(all), ["done", "old", "live", "released", "dead"])
        assert.deepStrictEqual(all.map((r) => r.stalled?.owner ?? null), [null, null, null, "quitter", deadOwner])
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "stalled" })), ["released", "dead"])
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "running" })), ["old", "live"])
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "stalled", name: "dead" })), ["dead"])
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "stalled", limit: 1 })), ["released"])
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "completed" })), ["done"])
      })))

    it.effect("stalled is derived at every read, never stored: a record written back with it, then a new owner, reads live", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        yield* seed
        const dead = Option.getOrThrow(yield* client.getRun("stalled-dead"))
        yield* client.writeRun({ ...dead, name: "dead-again" })
        yield* client.flush
        assert.deepStrictEqual(Option.getOrThrow(yield* client.getRun("stalled-dead")).stalled?.owner, deadOwner)
        yield* client.acquireLease({ runId: "stalled-dead", owner: "rescuer", ttlMs: 10 * minute })
        const live = Option.getOrThrow(yield* client.getRun("stalled-dead"))
        assert.strictEqual(live.name, "dead-again")
        assert.isFalse("stalled" in live, "the stalled view written back was not stored")
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "stalled" })), ["released"])
      })))

    it.effect("a stalled run resumed reads as running while it runs, then ends", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        yield* seed
        const during = yield* withRun({ name: "dead", resume: { runId: "stalled-dead", latest: true } })(
          Effect.flatMap(RunContext, (ctx) => client.getRun(ctx.runId))
        )
        const seen = Option.getOrThrow(during)
        assert.strictEqual(seen.status, "running")
        assert.isFalse("stalled" in seen, "its new owner holds the lease")
        const ended = Option.getOrThrow(yield* client.getRun("stalled-dead"))
        assert.strictEqual(ended.status, "completed")
        assert.isFalse("stalled" in ended)
        assert.deepStrictEqual(names(yield* client.listRuns({ status: "stalled" })), ["released"])
      })))
  })
}
