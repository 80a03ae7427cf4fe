/**
 * Conformance for values a user can get wrong: bad usage numbers, a usage callback that throws,
 * values nested too deep, state keys that are also `Object.prototype` names. Called by
 * `conformance`, so it holds on every backend.
 */
import { assert, describe } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { withAgent } from "../../src/AgentContext.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, type RunContextService, withRun } from "../../src/RunContext.js"
import * as Step from "../../src/Step.js"
import { StepContext } from "../../src/StepContext.js"
import { onBackend } from "./backend.js"

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
  return Option.getOrThrow(Exit.causeOption(exit).pipe(Option.flatMap((cause) => Option.fromNullable(
    // the typed error, not a defect
    cause._tag === "Fail" ? cause.error : undefined
  ))))
}

/** Registers the value tests for one backend. */
export const valueConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  describe("bad values", () => {
    it.effect("non-finite or negative usage fails its step with SerializationError naming the field", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const cases = [
          { usage: { costUsd: Number.NaN }, path: "usage.costUsd", found: "NaN" },
          { usage: { inputTokens: Number.POSITIVE_INFINITY }, path: "usage.inputTokens", found: "Infinity" },
          { usage: { tokensUsed: -3 }, path: "usage.tokensUsed", found: "-3" }
        ]
        const runId = yield* withRun("bad-usage")(withAgent("a")(Effect.gen(function*() {
          for (const [i, { found, path, usage }] of cases.entries()) {
            const viaOption = yield* Effect.exit(Effect.succeed(i).pipe(Step.step(`option${i}`, { usage: () => usage })))
            const viaContext = yield* Effect.exit(
              Effect.flatMap(StepContext, (step) => step.addUsage(usage)).pipe(Step.step(`context${i}`))
            )
            for (const exit of [Exit.asVoid(viaOption), viaContext]) {
              const error = failureOf(exit)
              assert.strictEqual(error._tag, "SerializationError")
              if (error._tag === "SerializationError") assert.deepStrictEqual([error.path, error.found], [path, found])
            }
          }
          yield* Effect.succeed("fine").pipe(Step.step("good", { usage: () => ({ inputTokens: 2, outputTokens: 3 }) }))
          return (yield* RunContext).runId
        })))
        const steps = yield* client.listSteps(runId)
        assert.deepStrictEqual(steps.map((s) => s.status), [...cases.flatMap(() => ["failed", "failed"]), "completed"])
        const stored = Option.getOrThrow(yield* client.getRun(runId))
        assert.deepStrictEqual([stored.tokensUsed, stored.inputTokens, stored.outputTokens, stored.costUsd], [5, 2, 3, null])
      })))

    it.effect("a usage callback that throws fails its step typed, not as a defect", () =>
      run(Effect.gen(function*() {
        const exit = yield* Effect.exit(withRun("throwing-usage")(
          Effect.succeed(1).pipe(Step.step("s", {
            usage: () => {
              throw new Error("no usage on this response")
            }
          }))
        ))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "SerializationError")
        assert.include(error.message, "no usage on this response")
      })))

    it.effect("a value nested 3,000 levels deep is refused with SerializationError, not a stack overflow", () =>
      run(Effect.gen(function*() {
        let deep: unknown = "bottom"
        for (let i = 0; i < 3_000; i++) deep = { a: deep }
        const exit = yield* Effect.exit(withRun("deep")(Effect.succeed(1).pipe(Step.step("s", { input: deep }))))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "SerializationError")
        assert.include(error.message, "nested deeper than 512 levels")
      })))

    it.effect("state keys named __proto__ and constructor survive a checkpoint, a restore and a resume", () =>
      run(Effect.gen(function*() {
        // `Option`s compared by their values: `deepStrictEqual` does not tell `none` from `some`
        const read = (run: RunContextService) =>
          Effect.map(
            Effect.all([run.getState("__proto__"), run.getState("constructor")]),
            (values) => values.map((value) => Option.getOrElse(value, () => "missing"))
          )
        const expected = [{ polluted: true }, "kept"]
        let runId = ""
        // the run stops after its checkpoint (a completed run cannot be resumed)
        yield* Effect.exit(withRun("proto-keys")(Effect.gen(function*() {
          const run = yield* RunContext
          runId = run.runId
          yield* run.setState("__proto__", { polluted: true })
          yield* run.setState("constructor", "kept")
          const checkpoint = yield* run.checkpoint("keys")
          yield* run.setState("__proto__", "changed")
          yield* run.restoreFromCheckpoint(checkpoint.id)
          assert.deepStrictEqual(yield* read(run), expected)
          return yield* Effect.fail("stop")
        })))
        const restored = yield* withRun({ name: "proto-keys", resume: { runId, latest: true } })(
          Effect.flatMap(RunContext, read)
        )
        assert.deepStrictEqual(restored, expected)
        assert.isUndefined(({} as Record<string, unknown>).polluted)
      })))
  })
}
