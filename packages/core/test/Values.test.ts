/**
 * Values as a program gives them: `undefined` follows JSON (an optional field of an `output`
 * schema, `Step.fn` arguments in the middle and at the end), and Effect data types refused with
 * the schema that encodes them. The backend-level cases are in `utils/conformanceValues.ts`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Schema } from "effect"
import { SerializationError } from "../src/Errors.js"
import { sha256 } from "../src/internal/canonical.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"

/** The stored steps of the run `program` records, with its result. */
const recorded = <A, E>(program: Effect.Effect<A, E, RunContext>) =>
  Effect.gen(function*() {
    const [result, runId] = yield* withRun("values")(Effect.zip(program, Effect.map(RunContext, (run) => run.runId)))
    return { result, steps: yield* Effect.flatMap(MultiRunClient, (client) => client.listSteps(runId)) }
  }).pipe(Effect.provide(LocalLayer))

describe("values", () => {
  it.effect("an optional field of an output schema left undefined is recorded without it", () =>
    Effect.gen(function*() {
      const Reply = Schema.Struct({ text: Schema.String, toolCalls: Schema.optional(Schema.Array(Schema.String)) })
      const { result, steps } = yield* recorded(
        Effect.succeed({ text: "hi", toolCalls: undefined }).pipe(Step.step("llm", { output: Reply }))
      )
      assert.deepStrictEqual(result, { text: "hi", toolCalls: undefined })
      assert.deepStrictEqual(steps.map((s) => [s.status, s.output]), [["completed", "{\"text\":\"hi\"}"]])
    }))

  it.effect("Step.fn drops trailing undefined arguments only; one in the middle is null, as in a JSON array", () =>
    Effect.gen(function*() {
      const calls: Array<ReadonlyArray<unknown>> = []
      const f = Step.fn("f")((a?: string, b?: string, c?: string) => Effect.sync(() => calls.push([a, b, c])))
      const derived = Step.fn("derived", { input: (...args: ReadonlyArray<unknown>) => ({ count: args.length }) })(
        (_a: string, _b?: string) => Effect.void
      )
      const { steps } = yield* recorded(Effect.all([
        f("q"),
        f("q", undefined),
        f("q", undefined, undefined),
        f(undefined, "b"),
        f(),
        derived("q", undefined)
      ]))
      assert.deepStrictEqual(steps.map((s) => s.input), ["[\"q\"]", "[\"q\"]", "[\"q\"]", "[null,\"b\"]", "[]", "{\"count\":2}"])
      assert.strictEqual(new Set(steps.slice(0, 3).map((s) => s.inputHash)).size, 1)
      assert.strictEqual(steps[0]!.inputHash, sha256("[\"q\"]"))
      // the body gets the arguments as they were passed
      assert.deepStrictEqual(calls[1], ["q", undefined, undefined])
    }))

  it.effect("a Chunk output fails naming Chunk and Schema.Chunk; with that schema it is recorded", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.flip(recorded(Effect.succeed(Chunk.make(1, 2)).pipe(Step.step("chunk"))))
      assert.instanceOf(exit, SerializationError)
      if (!(exit instanceof SerializationError)) return
      assert.deepStrictEqual([exit.path, exit.found], ["output", "Chunk"])
      assert.include(exit.message, "encode it with `Schema.Chunk(itemSchema)` as the step's `output` schema")
      const { result, steps } = yield* recorded(
        Effect.succeed(Chunk.make(1, 2)).pipe(Step.step("chunk", { output: Schema.Chunk(Schema.Number) }))
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(result), [1, 2])
      assert.strictEqual(steps[0]!.output, "[1,2]")
    }))
})
