/**
 * Conformance for JSON semantics and error records: `undefined` left out of recorded values as
 * JSON leaves it out (outputs, inputs, `Step.fn` arguments, state), and error records that keep
 * the error's fields and its kind (failure, defect, interruption). Called by `conformance`, so it
 * holds on every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Data, Effect, Exit, Option, Schema } from "effect"
import { AgentContext, withAgent } from "../../src/AgentContext.js"
import { sha256 } from "../../src/internal/canonical.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import * as Run from "../../src/Run.js"
import * as StateKey from "../../src/StateKey.js"
import * as Step from "../../src/Step.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { stopAfter, stoppedValue } from "./Stopped.js"
import { onBackend } from "./backend.js"

/** A typed failure with fields, as users write them. */
class Declined extends Data.TaggedError("Declined")<{
  readonly reason: string
  readonly retryAfter: number
  readonly detail: { readonly code: number; readonly hint?: string | undefined }
}> {}

const declined = new Declined({ reason: "card expired", retryAfter: 30, detail: { code: 7, hint: undefined } })

/** Registers the JSON-semantics and error-record tests for one backend. */
export const jsonValueConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  /** Runs `program` once, then resumes the run from its latest checkpoint and runs it again. */
  const twice = <A, E>(name: string, program: Effect.Effect<A, E, RunContext>) =>
    Effect.gen(function*() {
      const first = yield* withRun(name)(stopAfter(Effect.zip(program, Effect.map(RunContext, (ctx) => ctx.runId)))).pipe(
        stoppedValue
      )
      const runId = first[1]
      const second = yield* withRun({ name, resume: { runId, latest: true } })(program)
      return { first: first[0], second, runId }
    })

  describe("JSON semantics", () => {
    it.effect("an output with undefined properties is recorded without them, once, and replayed on resume", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        let calls = 0
        const program = Effect.gen(function*() {
          const reply = yield* Effect.sync(() => {
            calls++
            return { text: "hello", toolCalls: undefined }
          }).pipe(Step.step("llm", { kind: "llm_call", input: { prompt: "hi", temperature: undefined } }))
          yield* Effect.flatMap(RunContext, (ctx) => ctx.checkpoint("answered"))
          return reply
        })
        const { first, runId, second } = yield* twice("undefined-output", program)
        assert.strictEqual(calls, 1, "the paid call ran once")
        assert.deepStrictEqual([first, second], [{ text: "hello", toolCalls: undefined }, { text: "hello" }])
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(
          steps.map((s) => [s.status, s.replayed, s.input, s.output, s.inputHash]),
          [["completed", false, "{\"prompt\":\"hi\"}", "{\"text\":\"hello\"}", sha256("{\"prompt\":\"hi\"}")]]
        )
        assert.deepStrictEqual((Option.getOrThrow(yield* client.getRun(runId)).replays ?? []).map((r) => r.steps), [[[0, 1]]])
      })))

    it.effect("Step.fn: f(\"q\") and f(\"q\", undefined) are the same call, replayed across a resume", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        let calls = 0
        const search = Step.fn("search")((query: string, limit?: number) =>
          Effect.sync(() => {
            calls++
            return `${query}:${limit ?? 10}`
          })
        )
        let resumed = false
        const program = Effect.gen(function*() {
          const found = resumed ? yield* search("q", undefined) : yield* search("q")
          yield* Effect.flatMap(RunContext, (ctx) => ctx.checkpoint("searched"))
          resumed = true
          return found
        })
        const { first, runId, second } = yield* twice("fn-undefined", program)
        assert.deepStrictEqual([first, second, calls], ["q:10", "q:10", 1])
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(
          steps.map((s) => [s.input, s.inputHash, s.replayed]),
          [["[\"q\"]", sha256("[\"q\"]"), false]]
        )
        assert.deepStrictEqual((Option.getOrThrow(yield* client.getRun(runId)).replays ?? []).map((r) => r.steps), [[[0, 1]]])
      })))

    it.effect("setState(key, undefined) and deleteState remove keys, through a checkpoint and a resume", () =>
      run(Effect.gen(function*() {
        const Limit = StateKey.make("limit", Schema.UndefinedOr(Schema.Number))
        const runId = yield* withRun("state-delete")(stopAfter(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* ctx.setState("a", 1)
          yield* ctx.setState("b", 2)
          yield* ctx.setState("c", { keep: 3, drop: undefined })
          yield* ctx.setState(Limit, 5)
          yield* ctx.setState("a", undefined)
          yield* ctx.deleteState("b")
          yield* ctx.setState(Limit, undefined)
          yield* ctx.deleteState("never-set")
          yield* withAgent("worker")(Effect.gen(function*() {
            const agent = yield* AgentContext
            yield* agent.setState("x", 1)
            yield* agent.setState("y", 2)
            yield* agent.deleteState("x")
          }))
          assert.isTrue(Option.isNone(yield* ctx.getState("a")))
          assert.isTrue(Option.isNone(yield* ctx.getState("b")))
          assert.isTrue(Option.isNone(yield* ctx.getState(Limit)))
          const checkpoint = yield* ctx.checkpoint("pruned")
          assert.deepStrictEqual(checkpoint.runState, { c: { keep: 3 } })
          assert.deepStrictEqual(checkpoint.agents.map((a) => [a.name, a.state]), [["worker", { y: 2 }]])
          return ctx.runId
        }))).pipe(stoppedValue)
        const restored = yield* withRun({ name: "state-delete", resume: { runId, latest: true } })(Effect.gen(function*() {
          const ctx = yield* RunContext
          const [x, y] = yield* withAgent("worker")(
            Effect.flatMap(AgentContext, (agent) => Effect.all([agent.getState("x"), agent.getState("y")]))
          )
          return { a: yield* ctx.getState("a"), b: yield* ctx.getState("b"), c: yield* ctx.getState("c"), x, y }
        }))
        assert.isTrue(Option.isNone(restored.a) && Option.isNone(restored.b) && Option.isNone(restored.x))
        assert.deepStrictEqual([Option.getOrThrow(restored.c), Option.getOrThrow(restored.y)], [{ keep: 3 }, 2])
      })))
  })

  describe("error records", () => {
    it.effect("keep the error's own fields and whether it was a failure, a defect or an interruption", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        let runId = ""
        const exit = yield* Effect.exit(withRun("errors")(withAgent("a")(Effect.gen(function*() {
          runId = (yield* RunContext).runId
          yield* Effect.exit(Effect.fail(declined).pipe(Step.step("failure")))
          yield* Effect.exit(Effect.die(new Error("a bug")).pipe(Step.step("defect")))
          yield* Effect.exit(Effect.die(declined).pipe(Step.step("tagged-defect")))
          yield* Effect.exit(Effect.interrupt.pipe(Step.step("interruption")))
          return yield* Effect.fail(declined)
        }))))
        assert.isTrue(Exit.isFailure(exit))
        const data = { detail: { code: 7 }, reason: "card expired", retryAfter: 30 }
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(steps.map((s) => [s.name, s.status, s.error]), [
          ["failure", "failed", { tag: "Declined", message: "", kind: "failure", data }],
          ["defect", "failed", { tag: null, message: "a bug", kind: "defect" }],
          ["tagged-defect", "failed", { tag: "Declined", message: "", kind: "defect", data }],
          ["interruption", "interrupted", { tag: "Interrupted", message: "interrupted", kind: "interruption" }]
        ])
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.deepStrictEqual(stored.error, { tag: "Declined", message: "", kind: "failure", data })
        // what the backend returns decodes with the record schemas
        assert.deepStrictEqual(Schema.decodeUnknownSync(Run.Run)(stored).error, stored.error)
        const agents = yield* client.listAgents(runId)
        assert.deepStrictEqual(agents.map((a) => a.error), [{ tag: "Declined", message: "", kind: "failure", data }])
      })))
  })
}
