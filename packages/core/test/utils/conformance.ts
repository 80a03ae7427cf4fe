import { assert, describe, it as defaultIt, type Vitest } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, TestClock } from "effect"
import type { TestServices } from "effect"
import * as Accessors from "../../src/Accessors.js"
import { AgentContext, withAgent } from "../../src/AgentContext.js"
import { Checkpoints } from "../../src/Checkpoints.js"
import { CheckpointError, ReplayError, RunError, SerializationError } from "../../src/Errors.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import * as Run from "../../src/Run.js"
import * as StateKey from "../../src/StateKey.js"
import * as Step from "../../src/Step.js"
import { StepContext } from "../../src/StepContext.js"
import { stalledConformance } from "./conformanceStalled.js"
import { totalsConformance } from "./conformanceTotals.js"
import { assertNone, assertSome } from "./Options.js"
import { agentRecord, runRecord, stepRecord } from "./records.js"
import { capturingWarnings, leaseConformance } from "./leases.js"
import { replayConformance } from "./replay.js"
import { replayProperty } from "./replayProperty.js"
import { valueConformance } from "./values.js"
import { jsonValueConformance } from "./conformanceValues.js"
import { onBackend } from "./backend.js"

/**
 * A backend under test: a fresh layer per test. `R` is what building it needs, e.g. the server
 * fixture of a `layer(...)` block.
 *
 * @since 0.1.0
 */
export type BackendLayer<R = never> = () => Layer.Layer<MultiRunClient | Checkpoints, unknown, R>

/**
 * The `it` the suite registers its tests with: `@effect/vitest`'s own, or the one a
 * `layer(...)` block gives (which provides `R`).
 *
 * @since 0.1.0
 */
export interface ConformanceIt<R = never> {
  readonly effect: Vitest.Tester<TestServices.TestServices | R>
}

/** Counts executions of step bodies, to prove what replay did not execute. */
const counter = () => {
  const counts = new Map<string, number>()
  return {
    counts,
    hit: (key: string) => Effect.sync(() => counts.set(key, (counts.get(key) ?? 0) + 1)),
    get: (key: string) => counts.get(key) ?? 0
  }
}

/** A fake LLM call: deterministic answer and usage from the prompt. */
const fakeLlm = (prompt: string) =>
  Effect.succeed({ text: `answer to ${prompt}`, tokens: prompt.length * 10, cost: prompt.length / 1000 })

const llmStep = (prompt: string) =>
  fakeLlm(prompt).pipe(
    Step.step("llm", {
      kind: "llm_call",
      input: { prompt },
      usage: (r) => ({ tokensUsed: r.tokens, costUsd: r.cost })
    })
  )

/**
 * The backend conformance suite: every backend's tests call it with a layer factory, so the same
 * behaviours hold on memory, SQLite, PostgreSQL and the remote server. Inside a `layer(...)`
 * block, pass the block's `it` so the factory can use what the block provides.
 *
 * @since 0.1.0
 */
export const conformance = <R = never>(
  name: string,
  makeLayer: BackendLayer<R>,
  it: ConformanceIt<R> = defaultIt as ConformanceIt<any>
): void => {
  const run = onBackend(makeLayer)

  describe(`conformance: ${name}`, () => {
    describe("runs", () => {
      it.effect("a run resumed on a machine whose clock is 2 h behind is stored with a duration that is never negative", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          yield* TestClock.setTime(Date.UTC(2026, 0, 1, 12))
          let runId = ""
          const first = yield* Effect.exit(withRun("behind")(Effect.gen(function*() {
            runId = (yield* RunContext).runId
            yield* TestClock.adjust("2 seconds")
            return yield* Effect.fail("crash")
          })))
          assert.isTrue(Exit.isFailure(first))
          yield* TestClock.setTime(Date.UTC(2026, 0, 1, 10))
          const warnings: Array<string> = []
          yield* capturingWarnings(warnings, withRun({ name: "behind", resume: { runId, latest: true } })(Effect.void))
          assert.deepStrictEqual(warnings.filter((w) => w.includes("behind the start")), [
            `multirun: this machine's clock is 7200 s behind the start of run ${runId}; its end is stored no earlier than its start`
          ])
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(stored.startedAt, Date.UTC(2026, 0, 1, 12))
          assert.strictEqual(stored.status, "completed")
          assert.isAtLeast(stored.endedAt!, stored.startedAt, "its end is not before its start")
        })))

      it.effect("records a completed run with its result", () =>
        run(Effect.gen(function*() {
          const runId = yield* withRun("ok")(Effect.map(RunContext, (ctx) => ctx.runId))
          const client = yield* MultiRunClient
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(stored.status, "completed")
          assert.strictEqual(stored.name, "ok")
          assert.strictEqual(stored.result, JSON.stringify(runId))
          assert.isNumber(stored.endedAt)
        })))

      it.effect("records a failed run with its error, and an interrupted one", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          let failedId = ""
          const failed = yield* Effect.exit(withRun("bad")(Effect.gen(function*() {
            failedId = (yield* RunContext).runId
            return yield* Effect.fail({ _tag: "Boom", message: "it broke" })
          })))
          assert.isTrue(Exit.isFailure(failed))
          const failedRun = Option.getOrThrow(yield* client.getRun(failedId))
          assert.strictEqual(failedRun.status, "failed")
          assert.deepStrictEqual(failedRun.error, { tag: "Boom", message: "it broke", kind: "failure" })

          let interruptedId = ""
          const interrupted = yield* Effect.exit(withRun("stopped")(Effect.gen(function*() {
            interruptedId = (yield* RunContext).runId
            return yield* Effect.interrupt
          })))
          assert.isTrue(Exit.isFailure(interrupted) && Cause.isInterruptedOnly(interrupted.cause))
          assert.strictEqual(Option.getOrThrow(yield* client.getRun(interruptedId)).status, "interrupted")
        })))

      it.effect("complete and fail may be called explicitly; the first end wins", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("explicit")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ctx.fail(new Error("gave up"))
            return ctx.runId
          }))
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(stored.status, "failed")
          assert.strictEqual(stored.error?.message, "gave up")
          const other = yield* withRun("explicit-ok")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ctx.complete({ answer: 42 })
            return ctx.runId
          }))
          assert.strictEqual(Option.getOrThrow(yield* client.getRun(other)).result, "{\"answer\":42}")
        })))

      it.effect("lists runs by filter", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          yield* withRun({ name: "tagged", tags: ["nightly"], metadata: { team: "a" } })(Effect.void)
          yield* withRun("plain")(Effect.void)
          const tagged = yield* client.listRuns({ tag: "nightly" })
          assert.deepStrictEqual(tagged.map((r) => r.name), ["tagged"])
          assert.deepStrictEqual(tagged[0]!.metadata, { team: "a" })
          assert.strictEqual((yield* client.listRuns({ name: "plain" })).length, 1)
          assert.strictEqual((yield* client.listRuns({ limit: 1 })).length, 1)
        })))

      it.effect("listRuns: newest first (startedAt desc, then id desc), filtered by status, name, tag, parent, limit", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          yield* client.writeRun(runRecord("r1", { name: "a", status: "completed", tags: ["x", "y"], startedAt: 1 }))
          yield* client.writeRun(runRecord("r2", { name: "b", status: "failed", tags: ["y"], startedAt: 2 }))
          yield* client.writeRun(runRecord("r3", { name: "a", status: "running", tags: [], startedAt: 3 }))
          yield* client.writeRun(
            runRecord("r4", { name: "a", status: "completed", tags: ["x\"y"], parentRunId: "r1", startedAt: 3 })
          )
          yield* client.writeRun(runRecord("r0", { name: "c", status: "interrupted", tags: ["y"], startedAt: 3 }))
          const ids = (runs: ReadonlyArray<{ readonly id: string }>) => runs.map((r) => r.id)
          assert.deepStrictEqual(ids(yield* client.listRuns()), ["r4", "r3", "r0", "r2", "r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({})), ["r4", "r3", "r0", "r2", "r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ status: "completed" })), ["r4", "r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ status: "interrupted" })), ["r0"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ name: "a" })), ["r4", "r3", "r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ name: "nobody" })), [])
          assert.deepStrictEqual(ids(yield* client.listRuns({ tag: "y" })), ["r0", "r2", "r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ tag: "x\"y" })), ["r4"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ tag: "x" })), ["r1"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ parentRunId: "r1" })), ["r4"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ limit: 2 })), ["r4", "r3"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ name: "a", status: "completed", limit: 1 })), ["r4"])
          assert.deepStrictEqual(ids(yield* client.listRuns({ tag: "y", status: "failed" })), ["r2"])
          // a filter applies to the last record of a run
          yield* client.writeRun(runRecord("r3", { name: "a", status: "completed", tags: [], startedAt: 3 }))
          assert.deepStrictEqual(ids(yield* client.listRuns({ status: "running" })), [])
          assert.deepStrictEqual(ids(yield* client.listRuns({ status: "completed" })), ["r4", "r3", "r1"])
        })))
    })

    describe("records", () => {
      it.effect("a run, an agent and a step written twice with the same id read back as the last record", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const first = {
            run: runRecord("twice", { name: "first" }),
            agent: agentRecord("twice-agent", "twice", { name: "first" }),
            step: stepRecord("twice-step", "twice", "twice-agent", 0, { output: "\"first\"" })
          }
          yield* client.writeRun(first.run)
          yield* client.writeAgent(first.agent)
          yield* client.writeStep(first.step)
          // durable first, so the second records replace stored ones rather than buffered ones
          yield* client.flush
          yield* client.writeRun({ ...first.run, name: "second", status: "completed", stepCount: 1, endedAt: 1_700_000_000_005 })
          yield* client.writeAgent({ ...first.agent, name: "second", status: "completed", stepCount: 1 })
          yield* client.writeStep({ ...first.step, output: "\"second\"", tokensUsed: 2 })
          // written twice in one buffered batch: the last one of the batch wins
          yield* client.writeStep({ ...first.step, output: "\"third\"", tokensUsed: 3 })
          const stored = Option.getOrThrow(yield* client.getRun("twice"))
          assert.deepStrictEqual([stored.name, stored.status, stored.stepCount, stored.endedAt], [
            "second",
            "completed",
            1,
            1_700_000_000_005
          ])
          const agents = yield* client.listAgents("twice")
          assert.deepStrictEqual(agents.map((a) => [a.id, a.name, a.status]), [["twice-agent", "second", "completed"]])
          const steps = yield* client.listSteps("twice")
          assert.deepStrictEqual(steps.map((s) => [s.id, s.output, s.tokensUsed]), [["twice-step", "\"third\"", 3]])
          assert.deepStrictEqual((yield* client.listRuns({ name: "first" })).length, 0)
          assert.deepStrictEqual((yield* client.listRuns({ name: "second" })).map((r) => r.id), ["twice"])
        })))
    })

    describe("state", () => {
      const Deadline = StateKey.make("deadline", Schema.DateFromString)

      it.effect("plain and typed keys, with defaults, on run and agent", () =>
        run(Effect.gen(function*() {
          yield* withRun("state")(Effect.gen(function*() {
            const ctx = yield* RunContext
            assertNone(yield* ctx.getState("missing"))
            assert.strictEqual(yield* ctx.getState("missing", 7), 7)
            yield* ctx.setState("plan", { steps: ["a", "b"] })
            assertSome(yield* ctx.getState("plan"), { steps: ["a", "b"] })
            const when = new Date("2026-01-02T03:04:05.000Z")
            yield* ctx.setState(Deadline, when)
            const back = yield* ctx.getState(Deadline)
            assert.isTrue(Option.isSome(back) && back.value instanceof Date)
            assert.strictEqual(Option.getOrThrow(back).toISOString(), when.toISOString())
            yield* withAgent("worker")(Effect.gen(function*() {
              const agent = yield* AgentContext
              yield* agent.setState("notes", ["x"])
              assert.deepStrictEqual(yield* agent.getState("notes", []), ["x"])
            }))
            const checkpoint = yield* ctx.checkpoint("state")
            assert.deepStrictEqual(checkpoint.runState, {
              plan: { steps: ["a", "b"] },
              deadline: "2026-01-02T03:04:05.000Z"
            })
            assert.deepStrictEqual(checkpoint.agents.map((a) => [a.name, a.state]), [["worker", { notes: ["x"] }]])
            const notJson = yield* Effect.flip(ctx.setState("bad", { at: new Date(0) }))
            assert.instanceOf(notJson, SerializationError)
            assert.strictEqual(notJson.path, "run.state.bad.at")
          }))
        })))

      it.effect("a stored value that no longer decodes is a ReplayError(Decode)", () =>
        run(Effect.gen(function*() {
          yield* withRun("decode")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ctx.setState("deadline", "not a date at all")
            const Strict = StateKey.make("deadline", Schema.Struct({ at: Schema.Number }))
            const error = yield* Effect.flip(ctx.getState(Strict))
            assert.instanceOf(error, ReplayError)
            assert.strictEqual(error.reason, "Decode")
          }))
        })))
    })

    describe("agents and steps", () => {
      it.effect("withAgent and startAgent record agents; agents run concurrently", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("agents")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* Effect.all([
              withAgent("a")(llmStep("one")),
              withAgent({ name: "b", agentConfigId: "cfg-b", metadata: { model: "m" } })(llmStep("two"))
            ], { concurrency: 2 })
            const manual = yield* ctx.startAgent({ name: "manual" })
            yield* manual.complete("done")
            return ctx.runId
          }))
          const agents = yield* client.listAgents(runId)
          assert.deepStrictEqual(agents.map((a) => a.name).sort(), ["a", "b", "manual"])
          const b = agents.find((a) => a.name === "b")!
          assert.strictEqual(b.agentConfigId, "cfg-b")
          assert.deepStrictEqual(b.metadata, { model: "m" })
          assert.strictEqual(b.status, "completed")
          assert.strictEqual(b.stepCount, 1)
          assert.strictEqual(b.tokensUsed, 30)
        })))

      it.effect("steps outside any agent go to one lazily created default agent", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("default-agent")(Effect.gen(function*() {
            yield* Effect.all(Array.from({ length: 10 }, (_, i) => llmStep(`p${i}`)), { concurrency: "unbounded" })
            return (yield* RunContext).runId
          }))
          const agents = yield* client.listAgents(runId)
          assert.strictEqual(agents.length, 1)
          assert.isTrue(agents[0]!.isDefault)
          assert.strictEqual(agents[0]!.stepCount, 10)
          assert.strictEqual(agents[0]!.status, "completed")
        })))

      it.effect("inputs are canonical: key order does not change the hash; non-JSON inputs are refused with a path", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("hash")(Effect.gen(function*() {
            yield* Effect.succeed(1).pipe(Step.step("s", { input: { a: 1, b: { c: [1, 2], d: "x" } } }))
            yield* Effect.succeed(1).pipe(Step.step("s", { input: { b: { d: "x", c: [1, 2] }, a: 1 } }))
            const errors = yield* Effect.all([
              Effect.flip(Effect.void.pipe(Step.step("s", { input: { args: [{ when: new Date(0) }] } }))),
              Effect.flip(Effect.void.pipe(Step.step("s", { input: { f: () => 1 } }))),
              Effect.flip(Effect.void.pipe(Step.step("s", { input: { n: BigInt(1) } }))),
              Effect.flip(Effect.void.pipe(Step.step("s", { input: [Number.NaN] }))),
              Effect.flip(Effect.void.pipe(Step.step("s", { input: new (class Point {})() }))),
              Effect.flip(Effect.void.pipe(Step.step("s", { input: (() => {
                const cyclic: Record<string, unknown> = {}
                cyclic.self = cyclic
                return cyclic
              })() })))
            ])
            assert.deepStrictEqual(errors.map((e) => [e._tag, (e as SerializationError).path, (e as SerializationError).found]), [
              ["SerializationError", "input.args[0].when", "Date"],
              ["SerializationError", "input.f", "function"],
              ["SerializationError", "input.n", "bigint"],
              ["SerializationError", "input[0]", "NaN"],
              ["SerializationError", "input", "class Point"],
              ["SerializationError", "input.self", "cycle"]
            ])
            return (yield* RunContext).runId
          }))
          const steps = yield* client.listSteps(runId)
          assert.strictEqual(steps.length, 2)
          assert.strictEqual(steps[0]!.inputHash, steps[1]!.inputHash)
          assert.strictEqual(steps[0]!.input, "{\"a\":1,\"b\":{\"c\":[1,2],\"d\":\"x\"}}")
          assert.match(steps[0]!.inputHash, /^[0-9a-f]{64}$/)
        })))

      it.effect("latency comes from Clock; usage from the option and from StepContext; totals aggregate", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("metrics")(withAgent("worker")(Effect.gen(function*() {
            const slow = Effect.gen(function*() {
              yield* TestClock.adjust("250 millis")
              const ctx = yield* StepContext
              yield* ctx.addUsage({ tokensUsed: 100, costUsd: 0.5 })
              return "slow"
            })
            assert.strictEqual(yield* slow.pipe(Step.step("slow", { kind: "tool_call" })), "slow")
            yield* llmStep("abc")
            return (yield* RunContext).runId
          })))
          const steps = yield* client.listSteps(runId)
          assert.deepStrictEqual(steps.map((s) => [s.name, s.kind, s.latencyMs, s.tokensUsed, s.costUsd, s.seq]), [
            ["slow", "tool_call", 250, 100, 0.5, 0],
            ["llm", "llm_call", 0, 30, 0.003, 1]
          ])
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.deepStrictEqual([stored.stepCount, stored.tokensUsed, stored.costUsd, stored.latencyMs], [2, 130, 0.503, 250])
          const agent = (yield* client.listAgents(runId))[0]!
          assert.deepStrictEqual([agent.stepCount, agent.tokensUsed, agent.latencyMs], [2, 130, 250])
        })))

      it.effect("totals are exact with 100 concurrent steps over 4 agents", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("concurrent")(Effect.gen(function*() {
            yield* Effect.all(
              ["a", "b", "c", "d"].map((agent) =>
                withAgent(agent)(Effect.all(
                  Array.from({ length: 25 }, (_, i) =>
                    Effect.succeed(i).pipe(
                      Step.step("work", { input: { agent, i }, usage: () => ({ tokensUsed: 3, costUsd: 0.25 }) })
                    )),
                  { concurrency: "unbounded" }
                ))
              ),
              { concurrency: "unbounded" }
            )
            return (yield* RunContext).runId
          }))
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.deepStrictEqual([stored.stepCount, stored.tokensUsed, stored.costUsd], [100, 300, 25])
          const steps = yield* client.listSteps(runId)
          assert.strictEqual(steps.length, 100)
          assert.deepStrictEqual(steps.map((s) => s.seq), Array.from({ length: 100 }, (_, i) => i))
          for (const agent of yield* client.listAgents(runId)) assert.strictEqual(agent.stepCount, 25)
        })))

      it.effect("a failing step is recorded as failed and its error propagates", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          let runId = ""
          const exit = yield* Effect.exit(withRun("failing")(Effect.gen(function*() {
            runId = (yield* RunContext).runId
            yield* Effect.fail("tool down").pipe(Step.step("tool", { kind: "tool_call" }))
          })))
          assertSome(Option.flatMap(Exit.causeOption(exit), Cause.failureOption), "tool down")
          const [step] = yield* client.listSteps(runId)
          assert.strictEqual(step!.status, "failed")
          assert.deepStrictEqual(step!.error, { tag: null, message: "tool down", kind: "failure" })
        })))

      it.effect("an input or output over the size limit fails the step with a clear error, nothing dropped", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun({ name: "limits", maxValueSize: 100 })(Effect.gen(function*() {
            const big = "x".repeat(200)
            const input = yield* Effect.flip(Effect.void.pipe(Step.step("in", { input: big })))
            assert.strictEqual((input as SerializationError).path, "input")
            assert.include(input.message, "202 bytes of UTF-8, over the limit of 100")
            const output = yield* Effect.flip(Effect.succeed(big).pipe(Step.step("out")))
            assert.strictEqual((output as SerializationError).path, "output")
            // limits count UTF-8 bytes: 40 "€" are 42 characters of JSON but 122 bytes
            const euros = "€".repeat(40)
            const euroInput = yield* Effect.flip(Effect.void.pipe(Step.step("euro-in", { input: euros })))
            assert.include(euroInput.message, "122 bytes of UTF-8, over the limit of 100")
            const euroOutput = yield* Effect.flip(Effect.succeed(euros).pipe(Step.step("euro-out")))
            assert.include(euroOutput.message, "122 bytes of UTF-8, over the limit of 100")
            return (yield* RunContext).runId
          }))
          const steps = yield* client.listSteps(runId)
          assert.deepStrictEqual(steps.map((s) => [s.name, s.status]), [["out", "failed"], ["euro-out", "failed"]])
        })))

      it.effect("a step interrupted from outside is recorded as interrupted when the run ends", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("interrupted-step")(Effect.gen(function*() {
            const hanging = yield* Effect.fork(Effect.never.pipe(Step.step("hang", { input: "forever" })))
            yield* Effect.yieldNow()
            yield* Fiber.interrupt(hanging)
            yield* Effect.succeed("ok").pipe(Step.step("after"))
            return (yield* RunContext).runId
          }))
          const steps = yield* client.listSteps(runId)
          assert.deepStrictEqual(steps.map((s) => [s.seq, s.name, s.status]), [
            [0, "hang", "interrupted"],
            [1, "after", "completed"]
          ])
        })))

      it.effect("Step.fn records each call with its arguments as input", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const add = Step.fn("add", { kind: "function" })((a: number, b: number) => Effect.succeed(a + b))
          const runId = yield* withRun("fn")(Effect.gen(function*() {
            assert.strictEqual(yield* add(1, 2), 3)
            return (yield* RunContext).runId
          }))
          const [step] = yield* client.listSteps(runId)
          assert.deepStrictEqual([step!.name, step!.input, step!.output], ["add", "[1,2]", "3"])
        })))

      it.effect("startStep drives a step by hand", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("manual")(withAgent("a")(Effect.gen(function*() {
            const agent = yield* AgentContext
            const s = yield* agent.startStep({ name: "by-hand", kind: "custom", input: { q: 1 } })
            yield* TestClock.adjust("40 millis")
            yield* s.complete({ ok: true }, { tokensUsed: 5 })
            return (yield* RunContext).runId
          })))
          const [step] = yield* client.listSteps(runId)
          assert.deepStrictEqual([step!.output, step!.latencyMs, step!.tokensUsed], ["{\"ok\":true}", 40, 5])
        })))
    })

    describe("checkpoints", () => {
      it.effect("checkpoint on run and agent; list, latest and diff", () =>
        run(Effect.gen(function*() {
          const checkpoints = yield* Checkpoints
          yield* withRun("cp")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ctx.setState("phase", "plan")
            yield* ctx.setState("gone", 1)
            yield* llmStep("a")
            const first = yield* ctx.checkpoint("first")
            yield* ctx.setState("phase", "write")
            yield* ctx.setState("added", true)
            const gone = yield* ctx.getState("gone")
            assert.isTrue(Option.isSome(gone))
            yield* llmStep("b")
            const second = yield* withAgent("writer")(Effect.gen(function*() {
              const agent = yield* AgentContext
              yield* agent.setState("draft", "v1")
              yield* llmStep("c")
              return yield* agent.checkpoint("second", { extraState: { cursor: 3 } })
            }))
            assert.strictEqual(second.agentId !== null, true)
            assert.deepStrictEqual(second.extraState, { cursor: 3 })
            const listed = yield* checkpoints.list(ctx.runId)
            assert.deepStrictEqual(listed.map((c) => [c.name, c.version]), [["first", 1], ["second", 2]])
            const latest = yield* checkpoints.latest(ctx.runId)
            assert.strictEqual(Option.getOrThrow(latest).id, second.id)
            const diff = yield* checkpoints.diff(first.id, second.id)
            assert.deepStrictEqual(diff.added, ["run.added", "agent:writer.draft", "extra"])
            assert.deepStrictEqual(diff.changed, ["run.phase"])
            assert.deepStrictEqual(diff.removed, [])
            assert.deepStrictEqual(diff.steps.map((s) => s.input), [{ prompt: "b" }, { prompt: "c" }])
            assert.deepStrictEqual([second.stepCount, second.tokensUsed], [3, 30])
          }))
        })))
    })

    describe("checkpoint versions", () => {
      it.effect("a second checkpoint of the same version is CheckpointError(Conflict); the first stays", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const first = yield* withRun("versions")(Effect.gen(function*() {
            yield* llmStep("a")
            return yield* (yield* RunContext).checkpoint("first")
          }))
          const stored = Option.getOrThrow(yield* client.getCheckpoint(first.id))
          assert.strictEqual(stored.version, 1)
          const conflict = yield* Effect.flip(
            client.saveCheckpoint({ ...stored, id: `${stored.id}-second-writer`, name: "second writer" })
          )
          assert.instanceOf(conflict, CheckpointError)
          assert.strictEqual((conflict as CheckpointError).reason, "Conflict")
          assert.strictEqual((conflict as CheckpointError).runId, first.runId)
          const listed = yield* client.listCheckpoints(first.runId)
          assert.deepStrictEqual(listed.map((c) => [c.id, c.name, c.version]), [[first.id, "first", 1]])
          assert.isTrue(Option.isNone(yield* client.getCheckpoint(`${stored.id}-second-writer`)))
          // the next version is accepted
          yield* client.saveCheckpoint({ ...stored, id: `${stored.id}-next`, name: "next", version: 2 })
          assert.deepStrictEqual((yield* client.listCheckpoints(first.runId)).map((c) => c.version), [1, 2])
        })))
    })

    describe("replay", () => {
      it.effect("restores state and replays recorded steps without executing them", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const executions = counter()
          const call = (prompt: string) =>
            Effect.zipRight(executions.hit(prompt), fakeLlm(prompt)).pipe(
              Effect.map((r) => r.text),
              Step.step("llm", { kind: "llm_call", input: { prompt }, usage: () => ({ tokensUsed: 10, costUsd: 1 }) })
            )
          const runId = yield* withRun("replay")(withAgent("agent")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ctx.setState("progress", 1)
            const first = [yield* call("x"), yield* call("x"), yield* call("x"), yield* call("y")]
            const checkpoint = yield* ctx.checkpoint("after-four")
            yield* ctx.setState("progress", 99)
            yield* call("lost")

            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            assert.isTrue(yield* ctx.isReplaying)
            assert.strictEqual(yield* ctx.getState("progress", 0), 1)
            const agent = yield* AgentContext
            assertSome(yield* agent.getStepResult("llm", { prompt: "y" }), "answer to y")
            assertNone(yield* agent.getStepResult("llm", { prompt: "zzz" }))
            const again = [yield* call("x"), yield* call("x"), yield* call("x")]
            assert.isTrue(yield* ctx.isReplaying)
            again.push(yield* call("y"))
            assert.isFalse(yield* ctx.isReplaying)
            assert.deepStrictEqual(again, first)
            yield* call("new")
            assert.deepStrictEqual([...executions.counts.entries()], [["x", 3], ["y", 1], ["lost", 1], ["new", 1]])
            // totals are what was executed: "lost" was paid for though the restore left it behind
            const totals = yield* ctx.run
            assert.deepStrictEqual([totals.stepCount, totals.tokensUsed, totals.costUsd], [6, 60, 6])
            return ctx.runId
          })))
          // replayed calls write no rows: the run's replay says which records it returned
          const steps = yield* client.listSteps(runId)
          assert.deepStrictEqual(
            steps.map((s) => [s.seq, JSON.parse(s.input).prompt, s.replayed, s.tokensUsed, s.occurrence ?? null]),
            [
              [0, "x", false, 10, null],
              [1, "x", false, 10, null],
              [2, "x", false, 10, null],
              [3, "y", false, 10, null],
              [4, "lost", false, 10, null],
              [5, "new", false, 10, 0]
            ]
          )
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.deepStrictEqual((stored.replays ?? []).map((r) => [r.steps, r.inherited]), [[[[0, 4]], 0]])
          assert.strictEqual(Run.replayedCount(stored.replays ?? []), 4)
        })))

      it.effect("after a restore, an agent of the checkpoint is taken over by name with its id and state", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const runId = yield* withRun("takeover")(Effect.gen(function*() {
            const ctx = yield* RunContext
            const planner = withAgent("planner")(Effect.gen(function*() {
              const agent = yield* AgentContext
              const seen = yield* agent.getState("notes", "none")
              yield* agent.setState("notes", "planned")
              yield* llmStep("plan")
              return [(yield* agent.agent).id, seen] as const
            }))
            const [firstId, firstSeen] = yield* planner
            const checkpoint = yield* ctx.checkpoint("planned")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            const [againId, againSeen] = yield* planner
            assert.strictEqual(againId, firstId)
            assert.deepStrictEqual([firstSeen, againSeen], ["none", "planned"])
            assert.isFalse(yield* ctx.isReplaying)
            return ctx.runId
          }))
          const agents = yield* client.listAgents(runId)
          assert.deepStrictEqual(agents.map((a) => [a.name, a.status, a.stepCount]), [["planner", "completed", 1]])
        })))

      it.effect("a loop calling one step with one input gets each recorded result in turn", () =>
        run(Effect.gen(function*() {
          yield* withRun("loop")(Effect.gen(function*() {
            const ctx = yield* RunContext
            let n = 0
            const roll = Effect.sync(() => ++n).pipe(Step.step("roll", { input: { die: 6 } }))
            const first = [yield* roll, yield* roll, yield* roll]
            const checkpoint = yield* ctx.checkpoint("rolled")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            const again = [yield* roll, yield* roll, yield* roll]
            assert.deepStrictEqual(first, [1, 2, 3])
            assert.deepStrictEqual(again, [1, 2, 3])
            assert.strictEqual(n, 3)
          }))
        })))

      it.effect("with an output schema, first execution and replay return the same decoded value", () =>
        run(Effect.gen(function*() {
          const Answer = Schema.Struct({ at: Schema.DateFromString, text: Schema.String })
          yield* withRun("schema")(Effect.gen(function*() {
            const ctx = yield* RunContext
            const ask = Effect.succeed({ at: new Date("2026-05-06T07:08:09.000Z"), text: "hi" }).pipe(
              Step.step("ask", { output: Answer })
            )
            const first = yield* ask
            const checkpoint = yield* ctx.checkpoint("asked")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            const replayed = yield* ask
            assert.instanceOf(first.at, Date)
            assert.instanceOf(replayed.at, Date)
            assert.deepStrictEqual(replayed, first)
            const noSchema = yield* Effect.flip(Effect.succeed(new Date(0)).pipe(Step.step("date")))
            assert.strictEqual((noSchema as SerializationError).path, "output")
          }))
        })))

      it.effect("failed steps are never replayed: a failed call keeps its place and executes again", () =>
        run(Effect.gen(function*() {
          yield* withRun("flaky")(Effect.gen(function*() {
            const ctx = yield* RunContext
            let attempts = 0
            const call = Effect.suspend(() => ++attempts === 1 ? Effect.fail("first try fails") : Effect.succeed(attempts))
              .pipe(Step.step("flaky", { input: "same" }))
            assert.strictEqual(yield* Effect.retry(call, { times: 2 }), 2)
            const checkpoint = yield* ctx.checkpoint("after")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            // the first call's place holds a failure: it executes; the second call gets the recorded 2
            assert.strictEqual(yield* call, 3)
            assert.isTrue(yield* ctx.isReplaying)
            assert.strictEqual(yield* call, 2)
            assert.isFalse(yield* ctx.isReplaying)
            assert.strictEqual(attempts, 3)
          }))
        })))

      it.effect("drift: executed and reported once unmatched, marked on the step; ReplayError(InputChanged) with onDrift fail", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const ask = (prompt: { text: string; temperature: number }, onDrift?: "fail") =>
            Effect.succeed(prompt.text).pipe(Step.step("ask", { input: prompt, onDrift }))
          const runId = yield* withRun("drift")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* ask({ text: "a", temperature: 0 })
            yield* ask({ text: "b", temperature: 0 })
            const checkpoint = yield* ctx.checkpoint("asked")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            const error = yield* Effect.flip(ask({ text: "c", temperature: 0 }, "fail"))
            assert.instanceOf(error, ReplayError)
            assert.strictEqual(error.reason, "InputChanged")
            assert.strictEqual(error.path, "input.text")
            assert.strictEqual(error.stepName, "ask")
            assert.match(error.expectedHash!, /^[0-9a-f]{64}$/)
            assert.notStrictEqual(error.expectedHash, error.actualHash)
            // executed; drift is decided when the record of "a" is left unmatched (here: the run's end)
            assert.strictEqual(yield* ask({ text: "a", temperature: 0.7 }), "a")
            assert.strictEqual(yield* ask({ text: "b", temperature: 0 }), "b")
            assert.strictEqual((yield* ctx.drifts).length, 0)
            return ctx.runId
          }))
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(stored.drifts, 1)
          const steps = yield* client.listSteps(runId)
          assert.deepStrictEqual(
            steps.map((s) => [JSON.parse(s.input).temperature, s.replayed, s.drift ?? null]),
            [[0, false, null], [0, false, null], [0.7, false, "input.temperature"]]
          )
          // "b" was replayed: no row, its record's seq in the run's replay
          assert.deepStrictEqual((stored.replays ?? []).map((r) => r.steps), [[[1, 2]]])
        })))

      it.effect("a recorded output that no longer decodes is a ReplayError(Decode)", () =>
        run(Effect.gen(function*() {
          yield* withRun("decode")(Effect.gen(function*() {
            const ctx = yield* RunContext
            yield* Effect.succeed({ n: "seven" }).pipe(Step.step("parse", { input: 1 }))
            const checkpoint = yield* ctx.checkpoint("parsed")
            yield* ctx.restoreFromCheckpoint(checkpoint.id)
            const error = yield* Effect.flip(
              Effect.succeed({ n: 7 }).pipe(Step.step("parse", { input: 1, output: Schema.Struct({ n: Schema.Number }) }))
            )
            assert.instanceOf(error, ReplayError)
            assert.strictEqual(error.reason, "Decode")
          }))
        })))

      it.effect("restoring an unknown checkpoint or another run's is a CheckpointError", () =>
        run(Effect.gen(function*() {
          const other = yield* withRun("other")(Effect.flatMap(RunContext, (ctx) => ctx.checkpoint("mine")))
          yield* withRun("restorer")(Effect.gen(function*() {
            const ctx = yield* RunContext
            const missing = yield* Effect.flip(ctx.restoreFromCheckpoint("no-such-checkpoint"))
            assert.instanceOf(missing, CheckpointError)
            assert.strictEqual((missing as CheckpointError).reason, "NotFound")
            const wrong = yield* Effect.flip(ctx.restoreFromCheckpoint(other.id))
            assert.strictEqual((wrong as CheckpointError).reason, "WrongRun")
          }))
        })))
    })

    describe("resume and fork", () => {
      const program = (executions: ReturnType<typeof counter>, failAt: number | undefined) =>
        withAgent("worker")(Effect.gen(function*() {
          const ctx = yield* RunContext
          const results: Array<string> = []
          for (let i = 0; i < 6; i++) {
            if (i === failAt) return yield* Effect.fail("crash")
            results.push(
              yield* Effect.zipRight(executions.hit(`s${i}`), Effect.succeed(`r${i}`)).pipe(
                Step.step("work", { input: i, usage: () => ({ tokensUsed: 1, costUsd: 0.1 }) })
              )
            )
            yield* ctx.setState("done", i + 1)
            if (i % 2 === 1) yield* ctx.checkpoint(`after-${i}`)
          }
          return results
        }))

      it.effect("resume continues the same run from its latest checkpoint", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const executions = counter()
          let runId = ""
          const crashed = yield* Effect.exit(withRun("resumable")(
            Effect.tap(RunContext, (ctx) => Effect.sync(() => runId = ctx.runId)).pipe(Effect.zipRight(program(executions, 5)))
          ))
          assert.isTrue(Exit.isFailure(crashed))
          const results = yield* withRun({ name: "resumable", resume: { runId, latest: true } })(
            Effect.gen(function*() {
              const ctx = yield* RunContext
              assert.strictEqual(ctx.runId, runId)
              assert.strictEqual(yield* ctx.getState("done", 0), 4)
              return yield* program(executions, undefined)
            })
          )
          assert.deepStrictEqual(results, ["r0", "r1", "r2", "r3", "r4", "r5"])
          assert.deepStrictEqual([0, 1, 2, 3, 4, 5].map((i) => executions.get(`s${i}`)), [1, 1, 1, 1, 2, 1])
          const stored = Option.getOrThrow(yield* client.getRun(runId))
          assert.strictEqual(stored.status, "completed")
          // every executed step over both attempts: s4 ran in each
          assert.deepStrictEqual([stored.stepCount, stored.tokensUsed], [7, 7])
          const agents = yield* client.listAgents(runId)
          assert.strictEqual(agents.length, 1)
          assert.strictEqual(agents[0]!.stepCount, 7)
        })))

      it.effect("a resumed program starts with the checkpoint's state before the run's steps are read; its steps wait for them and replay", () =>
        run(Effect.gen(function*() {
          const backend = yield* MultiRunClient
          const executions = counter()
          let runId = ""
          const crashed = yield* Effect.exit(withRun("read-beside")(
            Effect.tap(RunContext, (ctx) => Effect.sync(() => runId = ctx.runId)).pipe(Effect.zipRight(program(executions, 5)))
          ))
          assert.isTrue(Exit.isFailure(crashed))
          // the backend, whose step list answers only once the program has run its first line:
          // a resume that read the steps before starting the program would wait here for ever
          const started = yield* Deferred.make<void>()
          let reads = 0
          const client = {
            ...backend,
            listSteps: (id: string) =>
              Effect.zipRight(Effect.zipRight(Effect.sync(() => reads++), Deferred.await(started)), backend.listSteps(id))
          }
          const results = yield* withRun({ name: "read-beside", resume: { runId, latest: true } })(
            Effect.gen(function*() {
              const ctx = yield* RunContext
              assert.strictEqual(yield* ctx.getState("done", 0), 4)
              yield* Deferred.succeed(started, undefined)
              return yield* program(executions, undefined)
            })
          ).pipe(Effect.provideService(MultiRunClient, client))
          assert.deepStrictEqual(results, ["r0", "r1", "r2", "r3", "r4", "r5"])
          assert.deepStrictEqual([0, 1, 2, 3, 4, 5].map((i) => executions.get(`s${i}`)), [1, 1, 1, 1, 2, 1])
          assert.isAtLeast(reads, 1)
          const stored = Option.getOrThrow(yield* backend.getRun(runId))
          assert.deepStrictEqual([stored.status, stored.stepCount], ["completed", 7])
        })))

      it.effect("resume by checkpoint id, and fork into a new linked run", () =>
        run(Effect.gen(function*() {
          const client = yield* MultiRunClient
          const checkpoints = yield* Checkpoints
          const executions = counter()
          const runId = yield* withRun("parent")(
            Effect.zipRight(program(executions, undefined), Effect.map(RunContext, (ctx) => ctx.runId))
          )
          const all = yield* checkpoints.list(runId)
          const middle = all[0]!
          const refused = yield* Effect.flip(withRun({ name: "parent", resume: { checkpointId: middle.id } })(Effect.void))
          assert.instanceOf(refused, RunError)
          assert.strictEqual((refused as RunError).reason, "Completed")
          assert.include(refused.message, "forkFrom")

          const fork = yield* withRun({ name: "child", forkFrom: middle.id })(Effect.gen(function*() {
            const ctx = yield* RunContext
            assert.isTrue(yield* ctx.isReplaying)
            const out = yield* program(executions, undefined)
            return { out, runId: ctx.runId }
          }))
          assert.notStrictEqual(fork.runId, runId)
          assert.deepStrictEqual(fork.out, ["r0", "r1", "r2", "r3", "r4", "r5"])
          assert.deepStrictEqual([0, 1, 2, 3, 4, 5].map((i) => executions.get(`s${i}`)), [1, 1, 2, 2, 2, 2])
          const child = Option.getOrThrow(yield* client.getRun(fork.runId))
          assert.strictEqual(child.parentRunId, runId)
          assert.strictEqual(child.forkedFrom, middle.id)
          // the fork's own executed steps; the two it replayed cost it nothing
          assert.strictEqual(child.stepCount, 4)
          const childSteps = yield* client.listSteps(fork.runId)
          assert.deepStrictEqual(childSteps.map((s) => [s.seq, s.replayed]), [[0, false], [1, false], [2, false], [3, false]])
          // the two records it replayed are its parent's: counted as inherited
          assert.deepStrictEqual((child.replays ?? []).map((r) => [r.checkpointId, r.steps, r.inherited]), [[middle.id, [], 2]])
        })))
    })

    describe("accessors", () => {
      it.effect("answer inside and outside contexts", () =>
        run(Effect.gen(function*() {
          assert.isFalse(yield* Accessors.hasActiveRun)
          assert.isTrue(yield* Accessors.hasActiveClient)
          assert.strictEqual((yield* Effect.flip(Accessors.currentRun))._tag, "NoActiveRun")
          assert.strictEqual((yield* Effect.flip(Accessors.currentAgent))._tag, "NoActiveAgent")
          yield* withRun("accessors")(withAgent("a")(Effect.gen(function*() {
            assert.isTrue(yield* Accessors.hasActiveRun)
            assert.isTrue(yield* Accessors.hasActiveAgent)
            assert.strictEqual((yield* Accessors.currentRun).name, "accessors")
            assert.strictEqual((yield* Accessors.currentAgent).name, "a")
            assert.strictEqual(yield* Accessors.currentClient, yield* MultiRunClient)
          })))
        })))
    })
    valueConformance(makeLayer, it)
    jsonValueConformance(makeLayer, it)
    leaseConformance(makeLayer, it)
    replayConformance(makeLayer, it)
    totalsConformance(makeLayer, it)
    replayProperty(makeLayer, it, name === "LocalLayer" ? 30 : 8)
    stalledConformance(makeLayer, it)
  })
}
