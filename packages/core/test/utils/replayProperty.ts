/**
 * The property of replay and of a run's totals: generated programs of concurrent, nested,
 * failing-then-recovering and repeated steps, cut by checkpoints, crashed (interrupted) at
 * random points and resumed until they end. Whatever the cut: no call a checkpoint covered
 * executes again, no drift is reported for unchanged code, every call gets its own recorded
 * result, and the run's totals are the sum of its agents' and of its executed steps, exactly, with
 * an unknown cost `null` (never 0) when no executed step's cost is known.
 * Called by `conformance`, so it holds on every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Deferred, Duration, Effect, FastCheck as fc, Fiber, Option, TestClock, TestServices } from "effect"
import { withAgent } from "../../src/AgentContext.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import * as Step from "../../src/Step.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { onBackend } from "./backend.js"

/** One call of a generated program. */
interface Call {
  readonly name: "a" | "b"
  /** Few values, so that calls repeat a key. */
  readonly input: number
  readonly delay: number
  /** Fails; the program then falls back to a call of `fallback` (the same way in every attempt). */
  readonly flaky: boolean
  /** A call made inside this one's body. */
  readonly inner: { readonly input: number; readonly delay: number } | null
}

/** A phase: calls of one agent made concurrently; a checkpoint after them, or during them at a moment. */
interface Phase {
  readonly agent: "planner" | "writer"
  readonly calls: ReadonlyArray<Call>
  readonly checkpoint: "none" | "after" | number
}

const callArb: fc.Arbitrary<Call> = fc.record({
  name: fc.constantFrom("a" as const, "b" as const),
  input: fc.integer({ min: 0, max: 1 }),
  delay: fc.integer({ min: 1, max: 9 }),
  flaky: fc.boolean(),
  inner: fc.option(fc.record({ input: fc.integer({ min: 0, max: 1 }), delay: fc.integer({ min: 1, max: 5 }) }), {
    nil: null
  })
})

const programArb = fc.record({
  phases: fc.array(
    fc.record({
      agent: fc.constantFrom("planner" as const, "writer" as const),
      calls: fc.array(callArb, { minLength: 1, maxLength: 3 }),
      checkpoint: fc.oneof(fc.constantFrom("none" as const, "after" as const), fc.integer({ min: 1, max: 9 }))
    }) satisfies fc.Arbitrary<Phase>,
    { minLength: 2, maxLength: 5 }
  ),
  /** When each attempt but the last "crashes" (its run fiber is interrupted), in milliseconds. */
  crashes: fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 2 }),
  /** Which steps have a known cost: all, none (a model without a price), or those not named `b`. */
  pricing: fc.constantFrom("priced" as const, "unpriced" as const, "mixed" as const)
})

/**
 * Moves `TestClock` on a millisecond at a time, with a moment of real time for the store after
 * each, until `done`; fails naming `what` after 20,000 steps.
 */
const advanceUntil = (done: Effect.Effect<boolean>, what: string) =>
  Effect.gen(function*() {
    for (let step = 0; !(yield* done); step++) {
      if (step >= 20_000) return assert.fail(`not within 20 s of the test clock: ${what}`)
      yield* TestClock.adjust("1 millis")
      yield* TestServices.provideLive(Effect.sleep("1 millis"))
    }
  })

/** Registers the property for one backend. */
export const replayProperty = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>, numRuns: number): void => {
  const run = onBackend(makeLayer)

  describe("replay property", () => {
    it.effect.prop(
      "generated programs, cut by checkpoints and crashes, resumed: covered calls never execute again, no drift, own results, exact totals",
      [programArb],
      ([{ crashes, phases, pricing }]) =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          /** Executions by call identity (`phase.call[.inner|.fallback]`), and the attempt of each. */
          const executed = new Map<string, Array<number>>()
          let attempt = 0
          const body = (id: string, delay: number, fails: boolean) =>
            Effect.zipRight(
              Effect.sleep(Duration.millis(delay)),
              Effect.suspend(() => {
                const runs = executed.get(id) ?? []
                executed.set(id, [...runs, attempt])
                return fails ? Effect.fail(`${id} fails`) : Effect.succeed(`${id}@${attempt}`)
              })
            )
          const usageOf = (name: string) => () => ({
            tokensUsed: 3,
            inputTokens: 2,
            outputTokens: 1,
            costUsd: pricing === "unpriced" || (pricing === "mixed" && name === "b") ? null : 0.000123
          })
          const call = (id: string, c: Call): Effect.Effect<string, unknown, RunContext> => {
            const inner = c.inner
            const own = inner === null
              ? body(id, c.delay, c.flaky)
              : Effect.zipWith(
                body(id, c.delay, c.flaky),
                body(`${id}.inner`, inner.delay, false).pipe(Step.step("inner", { input: inner.input, usage: usageOf("inner") })),
                (outer, nested) => `${outer}+${nested}`
              )
            const recorded = own.pipe(Step.step(c.name, { input: c.input, usage: usageOf(c.name) }))
            return c.flaky
              ? Effect.orElse(recorded, () => body(`${id}.fallback`, 1, false).pipe(Step.step("fallback", { input: c.input, usage: usageOf("fallback") })))
              : recorded
          }
          /** The program: the result of every call by identity (also kept in `finished`). */
          const program = Effect.gen(function*() {
            const ctx = yield* RunContext
            const results: Record<string, string> = {}
            for (const [p, phase] of phases.entries()) {
              const during = typeof phase.checkpoint === "number"
                ? yield* Effect.fork(Effect.zipRight(Effect.sleep(Duration.millis(phase.checkpoint)), ctx.checkpoint(`during-${p}`)))
                : undefined
              const out = yield* withAgent(phase.agent)(
                Effect.forEach(phase.calls, (c, i) => call(`${p}.${i}`, c), { concurrency: "unbounded" })
              )
              if (during !== undefined) yield* Fiber.join(during)
              for (const [i, value] of out.entries()) results[`${p}.${i}`] = value
              if (phase.checkpoint === "after") yield* ctx.checkpoint(`after-${p}`)
            }
            finished = results
            return results
          })

          let runId = ""
          let result: Record<string, string> | undefined
          /** The results of the program that ran to its end, even when its crash came just after. */
          let finished: Record<string, string> | undefined
          const pending = [...crashes]
          while (result === undefined) {
            attempt++
            const crashAfter = pending.shift()
            const started = yield* Deferred.make<string>()
            const options = runId === ""
              ? { name: "property", onDrift: "fail" as const }
              : { name: "property", onDrift: "fail" as const, resume: { runId, latest: true as const } }
            const fiber = yield* Effect.fork(withRun(options)(
              Effect.zipRight(Effect.flatMap(RunContext, (ctx) => Deferred.succeed(started, ctx.runId)), program)
            ))
            runId = yield* Effect.raceFirst(
              Deferred.await(started),
              Effect.flatMap(Fiber.await(fiber), (exit) =>
                Effect.dieMessage(`attempt ${attempt} ended before its program started: ${String(exit)}`))
            )
            // the clock moves a millisecond at a time until the program ends or its crash comes
            let elapsed = 0
            yield* advanceUntil(
              Effect.map(fiber.poll, (exit) => Option.isSome(exit) || (crashAfter !== undefined && elapsed++ >= crashAfter)),
              "the attempt to end or crash"
            )
            if (Option.isNone(yield* fiber.poll)) {
              // the crash: the run's finalizers may wait on the clock (a retried write), so it keeps moving
              const interrupting = yield* Effect.fork(Fiber.interrupt(fiber))
              yield* advanceUntil(Effect.map(interrupting.poll, Option.isSome), "the crashed attempt to stop")
              // a crash that came as the program ended: the run is complete, and not resumed
              const stored = yield* client.getRun(runId)
              if (Option.isSome(stored) && stored.value.status === "completed") result = finished
              continue
            }
            result = yield* Fiber.join(fiber)
          }

          // own results: every call's value was made by that call (or its fallback), in some attempt
          for (const [id, value] of Object.entries(result)) assert.match(value, new RegExp(`^${id.replace(".", "\\.")}[.@]`), id)

          const stored = Option.getOrThrow(yield* client.getRun(runId))
          const steps = yield* client.listSteps(runId)
          const agents = yield* client.listAgents(runId)
          assert.strictEqual(stored.status, "completed")
          assert.strictEqual(stored.drifts, 0, "no drift for unchanged code")

          // no covered call executes again: a call executes at most once per attempt, and a call
          // whose record a checkpoint covered before a crash is not executed by a later attempt
          for (const [id, attempts] of executed) {
            assert.strictEqual(new Set(attempts).size, attempts.length, `${id} executed twice in one attempt`)
          }
          const checkpoints = yield* client.listCheckpoints(runId)
          for (const checkpoint of checkpoints) {
            for (const step of steps) {
              const covered = checkpoint.covered.some(([from, to]) => step.seq >= from && step.seq < to)
              if (!covered || step.replayed || step.status !== "completed" || step.output === null) continue
              const [id, made] = (JSON.parse(step.output) as string).split("+")[0]!.split("@")
              const later = (executed.get(id!) ?? []).filter((a) => a > Number(made))
              // a child of a covered record is not called again either
              assert.deepStrictEqual(later, [], `${id} (covered by ${checkpoint.name}) executed again`)
            }
          }

          // totals: run = Σ agents = Σ executed steps, exactly; the cost null when none is known
          const executedSteps = steps.filter((s) => !s.replayed)
          const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)
          const nanos = (usd: number | null) => Math.round((usd ?? 0) * 1e9)
          /** Totals as counts; the cost in nano-dollars, or null when nothing known was spent but some cost is unknown. */
          const totals = (stepCount: number, tokensUsed: number, inputTokens: number, costNanos: number, unpricedSteps: number) => ({
            stepCount,
            tokensUsed,
            inputTokens,
            costNanos: unpricedSteps > 0 && costNanos === 0 ? null : costNanos,
            unpricedSteps
          })
          const expected = totals(
            executedSteps.length,
            sum(executedSteps.map((s) => s.tokensUsed)),
            sum(executedSteps.map((s) => s.inputTokens ?? 0)),
            sum(executedSteps.map((s) => nanos(s.costUsd))),
            executedSteps.filter((s) => s.costUsd === null).length
          )
          // a step that failed or was cut off reported no usage: it cost nothing, a known cost
          if (pricing === "unpriced" && executedSteps.every((s) => s.status === "completed")) {
            assert.isNull(expected.costNanos, "no known cost: null")
          }
          if (pricing === "priced") assert.strictEqual(expected.unpricedSteps, 0)
          type Recorded = {
            stepCount: number
            tokensUsed: number
            inputTokens?: number | undefined
            costUsd: number | null
            unpricedSteps?: number | undefined
          }
          const of = (t: Recorded) => ({
            stepCount: t.stepCount,
            tokensUsed: t.tokensUsed,
            inputTokens: t.inputTokens ?? 0,
            costNanos: t.costUsd === null ? null : nanos(t.costUsd),
            unpricedSteps: t.unpricedSteps ?? 0
          })
          assert.deepStrictEqual(of(stored), expected, "run = Σ executed steps")
          for (const agent of agents) {
            const { costNanos, unpricedSteps } = of(agent)
            assert.strictEqual(costNanos === null, unpricedSteps > 0 && nanos(agent.costUsd) === 0, "an agent's cost is null when nothing known was spent")
          }
          const byAgents = totals(
            sum(agents.map((a) => a.stepCount)),
            sum(agents.map((a) => a.tokensUsed)),
            sum(agents.map((a) => a.inputTokens ?? 0)),
            sum(agents.map((a) => nanos(a.costUsd))),
            sum(agents.map((a) => a.unpricedSteps ?? 0))
          )
          assert.deepStrictEqual(byAgents, expected, "run = Σ agents")
        })),
      { timeout: 120_000, fastCheck: { numRuns } }
    )
  })
}
