/**
 * Values no backend can store are refused where they enter: text holding U+0000 or a lone
 * surrogate anywhere in a step's input or output, a state value or key, metadata, tags and names,
 * and ids that are empty, too long, `..` or not printable. Each fails typed, naming the field,
 * and nothing of it is written. Limits count UTF-8 bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { withAgent } from "../src/AgentContext.js"
import { CheckpointError, SerializationError } from "../src/Errors.js"
import { Ids } from "../src/Ids.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"

/** The error `effect` fails with, asserted to be an unstorable-value `SerializationError`: its path and what was found. */
const refused = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    assert.instanceOf(error, SerializationError)
    const serialization = error as SerializationError
    assert.strictEqual(serialization.reason, "Unstorable")
    assert.include(serialization.message, "cannot be stored")
    return [serialization.path, serialization.found]
  })

describe("values no backend can store", () => {
  it.effect("a step's input, output, name and state holding U+0000 or a lone surrogate fail typed, naming the field", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const runId = yield* withRun("entry")(Effect.gen(function*() {
        const run = yield* RunContext
        assert.deepStrictEqual(
          yield* refused(Effect.void.pipe(Step.step("call", { input: { prompt: "a\u0000b" } }))),
          ["input.prompt", "U+0000 at character 1"]
        )
        assert.deepStrictEqual(
          yield* refused(Effect.void.pipe(Step.step("call", { input: { ["k\u0000"]: 1 } }))),
          ["input[\"k\\u0000\"]", "U+0000 at character 1 of the key"]
        )
        assert.deepStrictEqual(
          yield* refused(Effect.succeed(["ok", "x\ud800"]).pipe(Step.step("out"))),
          ["output[1]", "a lone surrogate U+D800 at character 1"]
        )
        assert.deepStrictEqual(
          yield* refused(Effect.void.pipe(Step.step("na\u0000me"))),
          ["step name", "U+0000 at character 2"]
        )
        assert.deepStrictEqual(yield* refused(run.setState("k\u0000", 1)), ["run.state key", "U+0000 at character 1"])
        assert.deepStrictEqual(yield* refused(run.setState("k", { v: "\udc00" })), [
          "run.state.k.v",
          "a lone surrogate U+DC00 at character 0"
        ])
        assert.deepStrictEqual(yield* refused(run.checkpoint("c\u0000")), ["checkpoint name", "U+0000 at character 1"])
        assert.deepStrictEqual(yield* refused(run.checkpoint("c", { extraState: ["\u0000"] })), [
          "extraState[0]",
          "U+0000 at character 0"
        ])
        assert.deepStrictEqual(yield* refused(withAgent("agent\u0000")(Effect.void)), [
          "agent name",
          "U+0000 at character 5"
        ])
        assert.deepStrictEqual(yield* refused(withAgent({ name: "a", metadata: { m: "\ud83d" } })(Effect.void)), [
          "agent a metadata.m",
          "a lone surrogate U+D83D at character 0"
        ])
        // a surrogate pair is a character like any other
        yield* Effect.succeed("ok 😀").pipe(Step.step("emoji", { input: "😀" }))
        return run.runId
      }))
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.status, s.output]), [
        ["out", "failed", null],
        ["emoji", "completed", "\"ok 😀\""]
      ])
      // the run's default agent (of the steps), and none of the refused ones
      assert.deepStrictEqual((yield* client.listAgents(runId)).map((agent) => agent.name), ["default"])
    }).pipe(Effect.provide(LocalLayer)))

  it.effect("a run's name, tags and metadata holding U+0000 or a lone surrogate fail typed; no run is written", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      assert.deepStrictEqual(yield* refused(withRun("night\u0000ly")(Effect.void)), ["run name", "U+0000 at character 5"])
      assert.deepStrictEqual(yield* refused(withRun({ name: "r", tags: ["ok", "\ud800"] })(Effect.void)), [
        "run tags[1]",
        "a lone surrogate U+D800 at character 0"
      ])
      assert.deepStrictEqual(yield* refused(withRun({ name: "r", metadata: { user: { id: "\u0000" } } })(Effect.void)), [
        "run metadata.user.id",
        "U+0000 at character 0"
      ])
      assert.deepStrictEqual(yield* client.listRuns({}), [])
    }).pipe(Effect.provide(LocalLayer)))

  it.effect("ids that are empty, `..`, over 256 characters or not printable fail typed at the run; none is written", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["", "an empty id"],
        ["..", "the id \"..\", which a URL path cannot name"],
        ["x".repeat(100_000), "an id of 100000 characters (ids have at most 256)"],
        ["run\u0007", "a character that is not printable (U+0007) at character 3"],
        ["run\u2028", "a character that is not printable (U+2028) at character 3"],
        ["\ud800", "a lone surrogate U+D800 at character 0"]
      ]
      for (const [id, found] of cases) {
        const error = yield* Effect.flip(withRun("ids")(Effect.void).pipe(Effect.provideService(Ids, { next: () => id })))
        assert.instanceOf(error, SerializationError)
        assert.deepStrictEqual([(error as SerializationError).path, (error as SerializationError).found], ["run id", found])
        assert.include(error.message, "check the id generator")
      }
      // the longest id is accepted
      yield* withRun("ids")(Effect.void).pipe(Effect.provideService(Ids, { next: () => "y".repeat(256) }))
      assert.deepStrictEqual((yield* client.listRuns({})).map((run) => run.id.length), [256])
    }).pipe(Effect.provide(LocalLayer)))
})

describe("checkpoint size", () => {
  it.effect("a checkpoint over `maxValueSize` in UTF-8 bytes fails typed before it is written, and uses no version", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const runId = yield* withRun({ name: "big", maxValueSize: 10_000 })(Effect.gen(function*() {
        const run = yield* RunContext
        const first = yield* run.checkpoint("first")
        // 4,000 "€" are 4,002 characters of JSON but 12,002 bytes of UTF-8
        const error = yield* Effect.flip(run.checkpoint("big", { extraState: "€".repeat(4_000) }))
        assert.instanceOf(error, CheckpointError)
        assert.strictEqual((error as CheckpointError).reason, "TooLarge")
        assert.match(error.message, /checkpoint "big" is 12,\d{3} bytes of UTF-8, over the limit of 10,000 \(the run's `maxValueSize`\)/)
        const next = yield* run.checkpoint("next")
        assert.deepStrictEqual([first.version, next.version], [1, 2])
        return run.runId
      }))
      const stored = yield* client.listCheckpoints(runId)
      assert.deepStrictEqual(stored.map((c) => [c.name, c.version]), [["first", 1], ["next", 2]])
      assert.isTrue(Option.isSome(yield* client.getRun(runId)))
    }).pipe(Effect.provide(LocalLayer)))
})
