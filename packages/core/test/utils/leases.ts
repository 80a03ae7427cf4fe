/**
 * Conformance for run ownership: one owner at a time, expiry, fencing, and simultaneous
 * resumers. Called by `conformance`, so it holds on every backend. Leases are on the backend's
 * clock: `TestClock` for the memory backend, real time for a database or a server, so a lease
 * that must expire is a short one and `lapse` moves both clocks.
 */
import { assert, describe } from "@effect/vitest"
import { Cause, Deferred, type Duration, Effect, Exit, Fiber, Logger, Option, TestClock, TestServices } from "effect"
import { BackendError, RunError } from "../../src/Errors.js"
import * as Lease from "../../src/Lease.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import * as Step from "../../src/Step.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { onBackend } from "./backend.js"

/** The typed failure of an exit (not a defect, not an interruption). */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
  return Option.getOrElse(Cause.failureOption(exit.cause), () => assert.fail(`expected a typed failure: ${exit.cause}`))
}

/** A run of `steps` steps, checkpointed, that then fails: a run to resume (its lease is released). */
const crashedRun = (name: string, steps: number, executed: Map<string, number>) =>
  Effect.gen(function*() {
    let runId = ""
    const exit = yield* Effect.exit(withRun(name)(Effect.gen(function*() {
      const run = yield* RunContext
      runId = run.runId
      for (let i = 0; i < steps; i++) yield* work(`s${i}`, executed)
      yield* run.checkpoint("before-crash")
      return yield* Effect.fail("crash")
    })))
    assert.isTrue(Exit.isFailure(exit))
    return runId
  })

/**
 * Moves `TestClock` on, then gives the background renewal fibers it woke a moment of real time
 * to finish their round trip to the backend (nothing outside the run can observe a renewal).
 */
const tick = (duration: Duration.DurationInput) =>
  Effect.zipRight(TestClock.adjust(duration), TestServices.provideLive(Effect.sleep("300 millis")))

/**
 * Lets `duration` pass on the backend's clock, whichever it is: `TestClock` (the memory
 * backend's) and real time (a database's, a server's).
 */
export const lapse = (millis: number) =>
  Effect.zipRight(TestClock.adjust(millis), TestServices.provideLive(Effect.sleep(millis)))

/** Runs `effect` with its warnings kept in `warnings` instead of printed. */
export const capturingWarnings = <A, E, R>(warnings: Array<string>, effect: Effect.Effect<A, E, R>) =>
  Effect.provide(
    effect,
    Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void warnings.push(String(message))))
  )

/** A step that counts its executions. */
const work = (name: string, executed: Map<string, number>) =>
  Effect.sync(() => {
    executed.set(name, (executed.get(name) ?? 0) + 1)
    return name.length
  }).pipe(Step.step(name, { input: { name } }))

/** Registers the ownership tests for one backend. */
export const leaseConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  describe("ownership", () => {
    it.effect("a live owner makes a resume RunError(Locked) before any step; once its lease expires, a resume proceeds", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const executed = new Map<string, number>()
        const runId = yield* crashedRun("locked", 3, executed)
        // another process (on another machine) owns the run now
        const holder = yield* client.acquireLease({ runId, owner: "worker-7 on another host", ttlMs: 30_000 })
        const resume = withRun({ name: "locked", resume: { runId, latest: true } })(
          Effect.gen(function*() {
            for (let i = 0; i < 5; i++) yield* work(`s${i}`, executed)
          })
        )
        const locked = failureOf(yield* Effect.exit(resume))
        assert.instanceOf(locked, RunError)
        if (!(locked instanceof RunError)) return
        assert.strictEqual(locked.reason, "Locked")
        assert.strictEqual(locked.runId, runId)
        assert.deepStrictEqual(locked.holder, {
          owner: "worker-7 on another host",
          acquiredAt: holder.acquiredAt,
          expiresAt: holder.expiresAt
        })
        assert.include(locked.message, new Date(holder.acquiredAt).toISOString())
        assert.deepStrictEqual([...executed.values()], [1, 1, 1], "the locked resume ran no step")

        // the holder renews for the shortest time and dies without releasing: once its lease
        // expired on the backend's clock, a resume proceeds
        const last = yield* client.acquireLease({ runId, owner: "worker-7 on another host", ttlMs: Lease.minTtlMs })
        assert.strictEqual(last.epoch, holder.epoch + 1)
        yield* lapse(Lease.minTtlMs + 50)
        yield* resume
        assert.deepStrictEqual(Object.fromEntries(executed), { s0: 1, s1: 1, s2: 1, s3: 1, s4: 1 })
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.strictEqual(stored.status, "completed")
      })))

    it.effect("a lease out of bounds is refused before the run starts; a lease is only granted for a stored run", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        for (const leaseTtl of ["10 millis", "2 hours"] as const) {
          const refused = failureOf(yield* Effect.exit(withRun({ name: "bounds", leaseTtl })(Effect.void)))
          assert.instanceOf(refused, RunError)
          assert.strictEqual((refused as RunError).reason, "InvalidLease")
          assert.include(refused.message, `from ${Lease.minTtlMs} to ${Lease.maxTtlMs}`)
        }
        assert.deepStrictEqual(yield* client.listRuns(), [], "nothing was written")
        const missing = failureOf(yield* Effect.exit(client.acquireLease({ runId: "no-such-run", owner: "o", ttlMs: 1_000 })))
        assert.instanceOf(missing, RunError)
        assert.deepStrictEqual([(missing as RunError).reason, (missing as RunError).runId], ["NotFound", "no-such-run"])
      })))

    it.effect("an owner fenced out stops: its late writes are refused and never replayed, its next step never runs", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const executed = new Map<string, number>()
        const started = yield* Deferred.make<string>()
        const goOn = yield* Deferred.make<void>()
        const owner = yield* withRun("fenced")(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* work("early", executed)
          yield* ctx.checkpoint("early")
          yield* Deferred.succeed(started, ctx.runId)
          yield* Deferred.await(goOn)
          yield* work("late", executed)
          yield* ctx.checkpoint("late")
        })).pipe(Effect.exit, Effect.fork)
        const runId = yield* Deferred.await(started)
        // the owner stalls past its expiry (a long GC pause, a stopped VM) and another process takes over
        const ownerToken = failureOf(yield* Effect.exit(client.acquireLease({ runId, owner: "probe", ttlMs: 1_000 })))
        const warnings: Array<string> = []
        assert.instanceOf(ownerToken, RunError)
        // naming the live holder is not enough: the backend cannot tell it is dead
        const refused = failureOf(yield* Effect.exit(client.acquireLease({
          runId,
          owner: "taker",
          ttlMs: 60_000,
          replaces: (ownerToken as RunError).holder!.owner
        })))
        assert.strictEqual((refused as RunError).reason, "Locked")
        const taker = yield* client.acquireLease({
          runId,
          owner: "taker",
          ttlMs: 60_000,
          replaces: (ownerToken as RunError).holder!.owner,
          force: true
        }).pipe((effect) => capturingWarnings(warnings, effect))
        // a store in this process logs it here; a server logs it on its side
        for (const warning of warnings) assert.include(warning, `taker forced the lease over from ${(ownerToken as RunError).holder!.owner}`)
        assert.strictEqual(taker.epoch, 2)
        yield* Deferred.succeed(goOn, undefined)
        const error = failureOf(yield* Fiber.join(owner))
        assert.instanceOf(error, BackendError)
        assert.strictEqual((error as BackendError).reason, "Fenced")
        assert.include((error as BackendError).message, "another process took the run over")
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(steps.map((s) => s.name), ["early"], "the fenced owner's step was not stored")
        assert.deepStrictEqual((yield* client.listCheckpoints(runId)).map((c) => c.name), ["early"])
        assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).status, "running", "its end was not stored")

        // the new owner ends; a resume replays only what the owners that held the run recorded
        yield* client.releaseLease(taker)
        const drifts = yield* withRun({ name: "fenced", resume: { runId, latest: true } })(Effect.gen(function*() {
          yield* work("early", executed)
          yield* work("late", executed)
          return yield* Effect.flatMap(RunContext, (ctx) => ctx.drifts)
        }))
        assert.deepStrictEqual(drifts, [])
        assert.deepStrictEqual(Object.fromEntries(executed), { early: 1, late: 2 })
      })))

    it.effect("a renewal that finds the run taken over fails the owner's next step before it executes", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const executed = new Map<string, number>()
        const started = yield* Deferred.make<string>()
        const goOn = yield* Deferred.make<void>()
        const owner = yield* withRun({ name: "renewal", leaseTtl: "3 seconds" })(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* Deferred.succeed(started, ctx.runId)
          yield* Deferred.await(goOn)
          yield* work("after", executed)
        })).pipe(Effect.exit, Effect.fork)
        const runId = yield* Deferred.await(started)
        const probe = () => Effect.map(Effect.exit(client.acquireLease({ runId, owner: "probe", ttlMs: 1_000 })), failureOf)
        const first = yield* probe()
        // renewals every second keep the lease, each from the backend's time
        yield* tick("2 seconds")
        yield* tick("2 seconds")
        const renewed = yield* probe()
        assert.instanceOf(renewed, RunError, "renewed while the run lives")
        const holder = (renewed as RunError).holder!
        assert.isAbove(holder.expiresAt, (first as RunError).holder!.expiresAt)
        const taken: Lease.Encoded = yield* client.acquireLease({
          runId,
          owner: "taker",
          ttlMs: 60_000,
          replaces: holder.owner,
          force: true
        }).pipe((effect) => capturingWarnings([], effect))
        yield* tick("1 second") // the owner's next renewal finds out
        yield* Deferred.succeed(goOn, undefined)
        const error = failureOf(yield* Fiber.join(owner))
        assert.instanceOf(error, BackendError)
        assert.strictEqual((error as BackendError).reason, "Fenced")
        assert.isUndefined(executed.get("after"), "the step did not execute")
        yield* client.releaseLease(taken)
      })))

    it.effect("two simultaneous resumers, 20 rounds: one proceeds, the other is Locked; no step runs twice, no false drift", () =>
      run(Effect.gen(function*() {
        let locked = 0
        let doubles = 0
        let falseDrifts = 0
        for (let round = 0; round < 20; round++) {
          const executed = new Map<string, number>()
          const runId = yield* crashedRun(`pair-${round}`, 5, executed)
          // a resumer that got the run waits at the gate, so the two are live at the same time
          const gate = yield* Deferred.make<void>()
          const resume = withRun({ name: `pair-${round}`, resume: { runId, latest: true } })(Effect.gen(function*() {
            yield* Deferred.await(gate)
            for (let i = 0; i < 10; i++) yield* work(`s${i}`, executed)
            return yield* Effect.flatMap(RunContext, (ctx) => ctx.drifts)
          }))
          const a = yield* Effect.fork(Effect.exit(resume))
          const b = yield* Effect.fork(Effect.exit(resume))
          // the first to end must be the one refused at its start: the other waits at the gate
          const first = yield* TestServices.provideLive(
            Effect.timeoutFail(Effect.raceFirst(Fiber.join(a), Fiber.join(b)), {
              duration: "20 seconds",
              onTimeout: () => `round ${round}: both resumers got the run`
            })
          )
          yield* Deferred.succeed(gate, undefined)
          const outcomes = [yield* Fiber.join(a), yield* Fiber.join(b)]
          assert.isTrue(Exit.isFailure(first), `round ${round}: the first to end was refused`)
          const winners = outcomes.filter(Exit.isSuccess)
          assert.strictEqual(winners.length, 1, `round ${round}: exactly one resumer proceeds`)
          for (const exit of outcomes) {
            if (Exit.isSuccess(exit)) falseDrifts += exit.value.length
            else if ((failureOf(exit) as { reason?: string }).reason === "Locked") locked++
          }
          doubles += [...executed.values()].filter((count) => count > 1).length
        }
        assert.deepStrictEqual({ locked, doubles, falseDrifts }, { locked: 20, doubles: 0, falseDrifts: 0 })
      })))
  })
}
