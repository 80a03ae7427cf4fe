/**
 * Conformance for replay in real programs and a run's life: a fallback after a failed call,
 * checkpoints that cut through concurrent calls, steps inside steps, runs inside agents, time
 * travel while a step is in flight, steps after their run ended, interrupted steps, resumes that
 * reach a recorded checkpoint again. Called by `conformance`, so it holds on every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Logger, Option, TestClock } from "effect"
import { AgentContext, withAgent } from "../../src/AgentContext.js"
import { RunError } from "../../src/Errors.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, type RunContextService, withRun } from "../../src/RunContext.js"
import * as Step from "../../src/Step.js"
import { StepContext } from "../../src/StepContext.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { eventually } from "./Eventually.js"
import { onBackend } from "./backend.js"

/** Counts executions of step bodies by key. */
const executions = () => {
  const counts = new Map<string, number>()
  return {
    hit: (key: string) => Effect.sync(() => counts.set(key, (counts.get(key) ?? 0) + 1)),
    of: (key: string) => counts.get(key) ?? 0,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0)
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/**
 * Joins a resumed run whose calls sleep on the test clock, moving the clock 10 ms at a time until
 * the run ends. One jump would not do: a call counts itself as begun before its step decides to
 * execute, and on a resume the step first waits for the run's steps to be read, so its body may
 * start sleeping after the jump (and sleep for ever).
 */
const joinMovingClock = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    for (let moves = 0; moves < 500 && Option.isNone(yield* Fiber.poll(fiber)); moves++) {
      yield* TestClock.adjust("10 millis")
      yield* Effect.sleep("2 millis").pipe(Effect.withClock(Clock.make()))
    }
    return yield* Fiber.join(fiber)
  })

/** Registers the replay and run-life tests for one backend. */
export const replayConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  /**
   * Starts `program` as a run in a fiber, waits until `ready` says enough of it ran, takes a
   * checkpoint there, then interrupts the run (as a crash would end it): returns the run id.
   */
  const cutAndStop = <A, E>(
    name: string,
    program: Effect.Effect<A, E, RunContext>,
    begun: () => boolean,
    advance: Duration.DurationInput,
    ready: () => boolean
  ) =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<RunContextService>()
      const fiber = yield* Effect.fork(withRun(name)(
        Effect.zipRight(Effect.flatMap(RunContext, (ctx) => Deferred.succeed(started, ctx)), program)
      ))
      const ctx = yield* Deferred.await(started)
      yield* eventually("every call to begin", Effect.sync(begun))
      yield* TestClock.adjust(advance)
      yield* eventually("the steps before the cut to end", Effect.sync(ready))
      const checkpoint = yield* ctx.checkpoint("cut")
      yield* Fiber.interrupt(fiber)
      return { runId: ctx.runId, checkpoint }
    })

  describe("replay in real programs", () => {
    it.effect("a fallback after a failed call replays its own record: no drift, nothing paid twice", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        const search = (q: string) =>
          Effect.zipRight(paid.hit(q), q === "bad" ? Effect.fail("no results") : Effect.succeed(`found ${q}`)).pipe(
            Step.step("search", { input: { q } })
          )
        const lookup = Effect.orElse(search("bad"), () => search("good"))
        const runId = yield* withRun({ name: "fallback", onDrift: "fail" })(Effect.gen(function*() {
          const ctx = yield* RunContext
          const first = yield* lookup
          const checkpoint = yield* ctx.checkpoint("looked-up")
          yield* ctx.restoreFromCheckpoint(checkpoint.id)
          assert.strictEqual(yield* lookup, first)
          assert.isFalse(yield* ctx.isReplaying)
          return ctx.runId
        }))
        // the failed call keeps its place and executes again; "good" is replayed
        assert.deepStrictEqual([paid.of("bad"), paid.of("good")], [2, 1])
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.strictEqual(stored.drifts, 0)
        assert.strictEqual(stored.status, "completed")
      })))

    it.effect("a checkpoint cutting through concurrent calls: each covered call gets its own record after a resume", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        const results = new Map<number, string>()
        let attempt = 1
        let entered = 0
        // odd delays 1..39 ms: at 20 ms, the first ten have ended and ten are in flight
        const fetch = (i: number) =>
          Effect.zipRight(
            Effect.sync(() => entered++),
            Effect.sleep(Duration.millis(39 - 2 * ((i * 7) % 20))).pipe(
              Effect.zipRight(paid.hit(`q${i}`)),
              Effect.zipRight(Effect.sync(() => `r${i}-attempt${attempt}`)),
              Step.step("fetch", { input: { q: i } }),
              Effect.tap((r) => Effect.sync(() => results.set(i, r)))
            )
          )
        const program = Effect.forEach(range(20), fetch, { concurrency: "unbounded" })
        const { runId } = yield* cutAndStop("concurrent", program, () => entered === 20, "20 millis", () => results.size === 10)
        const covered = [...results.keys()]
        assert.strictEqual(covered.length, 10)
        attempt = 2
        entered = 0
        const resumed = yield* Effect.fork(withRun({ name: "concurrent", resume: { runId, latest: true }, onDrift: "fail" })(
          program
        ))
        yield* eventually("every call to begin again", Effect.sync(() => entered === 20))
        const out = yield* joinMovingClock(resumed)
        for (const i of range(20)) {
          // a covered call replays its own result; the others (cut before they paid) execute now
          assert.strictEqual(out[i], `r${i}-attempt${covered.includes(i) ? 1 : 2}`, `call ${i}`)
          assert.strictEqual(paid.of(`q${i}`), 1, `executions of call ${i}`)
        }
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.deepStrictEqual([stored.status, stored.drifts], ["completed", 0])
      })))

    it.effect("identical concurrent calls cut by a checkpoint: each gets the result of its own place", () =>
      run(Effect.gen(function*() {
        let n = 0
        const results = new Map<number, number>()
        let entered = 0
        const roll = (i: number) =>
          Effect.zipRight(
            Effect.sync(() => entered++),
            Effect.sleep(Duration.millis(i % 2 === 0 ? 5 : 30)).pipe(
              Effect.zipRight(Effect.sync(() => ++n)),
              Step.step("roll", { input: "same" }),
              Effect.tap((r) => Effect.sync(() => results.set(i, r)))
            )
          )
        const program = Effect.forEach(range(15), roll, { concurrency: "unbounded" })
        const { runId } = yield* cutAndStop("identical", program, () => entered === 15, "10 millis", () => results.size === 8)
        const first = new Map(results)
        const executed = n
        entered = 0
        const resumed = yield* Effect.fork(withRun({ name: "identical", resume: { runId, latest: true } })(program))
        yield* eventually("every call to begin again", Effect.sync(() => entered === 15))
        const out = yield* joinMovingClock(resumed)
        for (const [i, value] of first) assert.strictEqual(out[i], value, `call ${i} got another call's result`)
        assert.strictEqual(n, executed + 7)
      })))

    it.effect("a step inside a replayed step is accounted for by its parent; a failed parent leaves its children replayable", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        const inner = (q: string) => Effect.zipRight(paid.hit(q), Effect.succeed(q.length)).pipe(Step.step("inner", { input: q }))
        const outer = Effect.gen(function*() {
          yield* paid.hit("outer")
          return (yield* inner("x")) + (yield* inner("yy"))
        }).pipe(Step.step("outer", { input: 1 }))
        const broken = Effect.zipRight(inner("child of a failure"), Effect.fail("parent fails")).pipe(Step.step("broken"))
        const runId = yield* withRun({ name: "nested", onDrift: "fail" })(Effect.gen(function*() {
          const ctx = yield* RunContext
          assert.strictEqual(yield* outer, 3)
          yield* Effect.ignore(broken)
          const checkpoint = yield* ctx.checkpoint("nested")
          yield* ctx.restoreFromCheckpoint(checkpoint.id)
          assert.strictEqual(yield* outer, 3)
          // the failed parent executes again; its completed child is replayed
          assert.strictEqual(yield* Effect.flip(broken), "parent fails")
          assert.isFalse(yield* ctx.isReplaying)
          // a later call of the inner step with another input is a new call, not drift
          assert.strictEqual(yield* inner("zzz"), 3)
          return ctx.runId
        }))
        assert.deepStrictEqual(
          ["outer", "x", "yy", "child of a failure", "zzz"].map(paid.of),
          [1, 1, 1, 1, 1]
        )
        const steps = yield* client.listSteps(runId)
        const outerStep = steps.find((s) => s.name === "outer" && !s.replayed)!
        assert.deepStrictEqual(
          steps.filter((s) => s.name === "inner" && !s.replayed).map((s) => [s.input, s.parentId === outerStep.id]),
          [[`"x"`, true], [`"yy"`, true], [`"child of a failure"`, false], [`"zzz"`, false]]
        )
        assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).drifts, 0)
      })))

    it.effect("a parent executed again around a replayed child stands for that child once the parent is replayed", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        let parentFails = true
        const child = (q: string) => Effect.zipRight(paid.hit(q), Effect.succeed(q)).pipe(Step.step("child", { input: q }))
        const parent = Effect.gen(function*() {
          yield* paid.hit("parent")
          const got = yield* child("c")
          if (parentFails) return yield* Effect.fail("first try fails")
          return got
        }).pipe(Step.step("parent"))
        const runId = yield* withRun({ name: "absorbed", onDrift: "fail" })(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* Effect.ignore(parent)
          const first = yield* ctx.checkpoint("failed once")
          yield* ctx.restoreFromCheckpoint(first.id)
          parentFails = false
          // the parent executes again; its child replays inside it
          assert.strictEqual(yield* parent, "c")
          const second = yield* ctx.checkpoint("succeeded")
          yield* ctx.restoreFromCheckpoint(second.id)
          assert.strictEqual(yield* parent, "c")
          // the parent's record stood for its child: nothing is left to replay
          assert.isFalse(yield* ctx.isReplaying)
          // so a later call of the child with another input is a new call, not drift
          assert.strictEqual(yield* child("other"), "other")
          return ctx.runId
        }))
        assert.deepStrictEqual(["parent", "c", "other"].map(paid.of), [2, 1, 1])
        const steps = yield* client.listSteps(runId)
        const childSeq = steps.find((s) => s.name === "child" && s.input === `"c"`)!.seq
        assert.deepStrictEqual(
          steps.filter((s) => s.name === "parent").map((s) => [s.status, s.replayedInside ?? []]),
          [["failed", []], ["completed", [[childSeq, childSeq + 1]]]]
        )
        assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).drifts, 0)
      })))

    it.effect("a resume that replays k steps adds no step rows and no checkpoint: 5 resumes of 30 steps", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        let runId = ""
        const program = Effect.gen(function*() {
          const ctx = yield* RunContext
          runId = ctx.runId
          for (const i of range(30)) {
            yield* Effect.zipRight(paid.hit(`s${i}`), Effect.succeed(i)).pipe(Step.step("s", { input: i }))
          }
          yield* ctx.checkpoint("all")
          return yield* Effect.fail("stops after its checkpoint")
        })
        yield* Effect.flip(withRun("heavy")(program))
        for (const _ of range(5)) yield* Effect.flip(withRun({ name: "heavy", resume: { runId, latest: true } })(program))
        assert.strictEqual(paid.total(), 30)
        assert.strictEqual((yield* client.listSteps(runId)).length, 30)
        assert.strictEqual((yield* client.listCheckpoints(runId)).length, 1)
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.deepStrictEqual<unknown>((stored.replays ?? []).map((r) => [r.steps, r.inherited]), range(5).map(() => [[[0, 30]], 0]))
        assert.deepStrictEqual([stored.stepCount, stored.status], [30, "failed"])
      })))

    it.effect("withRun inside withAgent: the inner run's steps are its own, and it records the run that started it", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const ids = yield* withRun("outer")(withAgent("caller")(Effect.gen(function*() {
          yield* Effect.succeed(1).pipe(Step.step("outer-step"))
          const innerId = yield* withRun("inner")(Effect.gen(function*() {
            yield* Effect.succeed(2).pipe(Step.step("inner-step"))
            return (yield* RunContext).runId
          }))
          return { inner: innerId, outer: (yield* RunContext).runId }
        })))
        const inner = Option.getOrThrow(yield* client.getRun(ids.inner))
        const outer = Option.getOrThrow(yield* client.getRun(ids.outer))
        assert.deepStrictEqual([inner.stepCount, inner.parentRunId, outer.stepCount], [1, ids.outer, 1])
        assert.deepStrictEqual((yield* client.listSteps(ids.inner)).map((s) => s.name), ["inner-step"])
        assert.deepStrictEqual((yield* client.listSteps(ids.outer)).map((s) => s.name), ["outer-step"])
      })))

    it.effect("time travel while another fiber's step is in flight: the abandoned timeline is never covered", () =>
      run(Effect.gen(function*() {
        yield* withRun("time-travel")(Effect.gen(function*() {
          const ctx = yield* RunContext
          const paid = executions()
          const b = (value: string, delay: number) =>
            Effect.sleep(Duration.millis(delay)).pipe(Effect.as(value), Step.step("b", { input: "b" }))
          const c = Effect.zipRight(paid.hit("c"), Effect.succeed("c")).pipe(Step.step("c"))
          yield* Effect.succeed("a").pipe(Step.step("a"))
          const cp1 = yield* ctx.checkpoint("cp1")
          const old = yield* Effect.fork(b("b-old", 50))
          yield* Effect.yieldNow()
          yield* c
          yield* ctx.restoreFromCheckpoint(cp1.id)
          assert.strictEqual(yield* b("b-new", 0), "b-new")
          const cp2 = yield* ctx.checkpoint("cp2")
          yield* TestClock.adjust("60 millis")
          assert.strictEqual(yield* Fiber.join(old), "b-old")
          yield* ctx.restoreFromCheckpoint(cp2.id)
          assert.strictEqual(yield* b("b-newest", 0), "b-new")
          // `c` belongs to the abandoned timeline: cp2 does not cover it, so it executes
          yield* c
          assert.strictEqual(paid.of("c"), 2)
        }))
      })))
  })

  describe("a run's life", () => {
    it.effect("a step of an ended run or agent fails with RunError(Ended); totals match the rows", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const { ctx, daemon, late } = yield* withRun("ended")(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* Effect.succeed(1).pipe(Step.step("kept", { usage: () => ({ tokensUsed: 5 }) }))
          const late = yield* withAgent("short-lived")(
            Effect.fork(Effect.sleep("10 millis").pipe(Effect.zipRight(Effect.succeed(2).pipe(Step.step("late")))))
          )
          const daemon = yield* Effect.forkDaemon(
            Effect.sleep("10 millis").pipe(Effect.zipRight(Effect.succeed(3).pipe(Step.step("daemon"))))
          )
          return { ctx, daemon, late }
        }))
        yield* TestClock.adjust("10 millis")
        for (const fiber of [late, daemon]) {
          const exit = yield* Fiber.await(fiber)
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Option.getOrThrow(Exit.causeOption(exit)) : undefined
          assert.strictEqual(error?._tag, "Fail")
          const failure = (error as { readonly error: unknown }).error
          assert.instanceOf(failure, RunError)
          assert.strictEqual((failure as RunError).reason, "Ended")
        }
        const after = yield* Effect.flip(Effect.succeed(4).pipe(Step.step("after"), Effect.provideService(RunContext, ctx)))
        assert.strictEqual((after as RunError).reason, "Ended")
        const stored = Option.getOrThrow(yield* client.getRun(ctx.runId))
        const rows = yield* client.listSteps(ctx.runId)
        assert.deepStrictEqual([stored.stepCount, stored.tokensUsed, rows.length], [1, 5, 1])
      })))

    it.effect("usage reported through StepContext after its step ended is not counted", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const warnings: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(message))
        })
        const runId = yield* withRun("late-usage")(Effect.gen(function*() {
          // a fiber forked by the step's body outlives the step and reports usage after it ended
          let late: Fiber.RuntimeFiber<void> | undefined
          yield* Effect.flatMap(StepContext, (step) =>
            Effect.zipRight(
              step.addUsage({ tokensUsed: 3 }),
              Effect.fork(Effect.zipRight(Effect.sleep("10 millis"), step.addUsage({ tokensUsed: 100 }))).pipe(
                Effect.map((fiber) => void (late = fiber))
              )
            )).pipe(Step.step("s"))
          yield* TestClock.adjust("10 millis")
          yield* Fiber.join(late!)
          return (yield* RunContext).runId
        })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        assert.strictEqual(warnings.filter((w) => w.includes("after it was recorded")).length, 1)
        const [row] = yield* client.listSteps(runId)
        assert.strictEqual(row!.tokensUsed, 3)
        assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).tokensUsed, 3)
      })))

    it.effect("an interrupted step is recorded when it is interrupted, with its own latency and usage", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        let begun = false
        const slow = Effect.flatMap(StepContext, (step) => step.addUsage({ tokensUsed: 7 })).pipe(
          Effect.tap(() => Effect.sync(() => begun = true)),
          Effect.zipRight(Effect.sleep("2 seconds")),
          Step.step("slow", { kind: "llm_call" })
        )
        const fiber = yield* Effect.fork(withRun("timeout")(Effect.gen(function*() {
          const ctx = yield* RunContext
          const outcome = yield* Effect.either(Effect.timeout(slow, "100 millis"))
          assert.isTrue(outcome._tag === "Left")
          // recorded while the run goes on
          yield* ctx.client.flush
          const [row] = yield* ctx.client.listSteps(ctx.runId)
          assert.deepStrictEqual([row?.name, row?.status, row?.latencyMs, row?.tokensUsed], ["slow", "interrupted", 100, 7])
          return ctx.runId
        })))
        yield* eventually("the step to begin", Effect.sync(() => begun))
        yield* TestClock.adjust("100 millis")
        const runId = yield* Fiber.join(fiber)
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.deepStrictEqual([stored.stepCount, stored.tokensUsed, stored.latencyMs], [1, 7, 100])
      })))

    it.effect("a resumed program reaches its recorded checkpoint again: it gets it back and nothing is written", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const paid = executions()
        const program = Effect.gen(function*() {
          const ctx = yield* RunContext
          for (const i of range(3)) yield* Effect.zipRight(paid.hit(`s${i}`), Effect.succeed(i)).pipe(Step.step("s", { input: i }))
          const checkpoint = yield* ctx.checkpoint("all")
          return yield* Effect.fail(checkpoint.id)
        })
        const first = yield* Effect.flip(withRun("again")(program))
        const [recorded] = yield* client.listRuns({ name: "again" })
        for (const _ of range(3)) {
          const again = yield* Effect.flip(withRun({ name: "again", resume: { runId: recorded!.id, latest: true } })(program))
          assert.strictEqual(again, first)
        }
        assert.strictEqual((yield* client.listCheckpoints(recorded!.id)).length, 1)
        assert.strictEqual(paid.total(), 3)
      })))

    it.effect("a step with tokens or a model but no cost has an unknown cost (null), not 0", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const runId = yield* withRun("unknown-cost")(Effect.gen(function*() {
          yield* Effect.succeed(1).pipe(Step.step("priced", { usage: () => ({ tokensUsed: 10, costUsd: 0.5 }) }))
          yield* Effect.succeed(1).pipe(Step.step("unpriced", { usage: () => ({ tokensUsed: 10, model: "m" }) }))
          yield* Effect.succeed(1).pipe(Step.step("free"))
          return (yield* RunContext).runId
        }))
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(steps.map((s) => [s.name, s.costUsd]), [["priced", 0.5], ["unpriced", null], ["free", 0]])
      })))
  })

  describe("agents under replay", () => {
    it.effect("a restored agent's nested steps replay under its own name", () =>
      run(Effect.gen(function*() {
        const paid = executions()
        yield* withRun({ name: "agent-nested", onDrift: "fail" })(Effect.gen(function*() {
          const ctx = yield* RunContext
          const work = withAgent("worker")(Effect.gen(function*() {
            const agent = yield* AgentContext
            const leaf = Effect.zipRight(paid.hit("leaf"), Effect.succeed(agent.isDefault)).pipe(Step.step("leaf"))
            return yield* Effect.zipRight(paid.hit("branch"), leaf).pipe(Step.step("branch"))
          }))
          yield* work
          const checkpoint = yield* ctx.checkpoint("worked")
          yield* ctx.restoreFromCheckpoint(checkpoint.id)
          yield* work
          assert.isFalse(yield* ctx.isReplaying)
        }))
        assert.deepStrictEqual([paid.of("branch"), paid.of("leaf")], [1, 1])
      })))
  })
}
