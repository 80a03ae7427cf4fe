/**
 * TrackedLanguageModel at the edges: failed calls, streams cut short, drift under
 * `onDrift: "fail"`, checkpoints after each call, and models from no provider.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import { LocalLayer, RunContext, withRun } from "@multirun/core"
import { Cause, Chunk, Effect, Exit, Fiber, Layer, Logger, Stream, TestClock } from "effect"
import { TrackedLanguageModel } from "../src/index.js"
import * as OpenAiStub from "./fixtures/OpenAiStub.js"
import { stopAfter, stoppedValue } from "@multirun/core/test-utils"
import { openAi, stored } from "./helpers.js"

describe("TrackedLanguageModel edges", () => {
  it.scoped("a failed call is a failed step with the provider's error, executed again on resume", () =>
    Effect.gen(function*() {
      let failing = true
      const stub = yield* OpenAiStub.make({ fail: () => failing })
      const layer = TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))
      const program = Effect.gen(function*() {
        const run = yield* RunContext
        const exit = yield* Effect.exit(LanguageModel.generateText({ prompt: "flaky" }))
        yield* run.checkpoint("after-call")
        return { runId: run.runId, exit }
      })
      const first = yield* program.pipe(stopAfter, withRun("flaky"), stoppedValue, Effect.provide(layer))
      assert.isTrue(Exit.isFailure(first.exit))
      const error = Exit.isFailure(first.exit) ? Cause.squash(first.exit.cause) as { _tag: string } : undefined
      assert.strictEqual(error?._tag, "HttpResponseError")
      failing = false
      const again = yield* program.pipe(
        withRun({ name: "flaky", resume: { runId: first.runId, latest: true } }),
        Effect.provide(layer)
      )
      assert.isTrue(Exit.isSuccess(again.exit))
      assert.strictEqual(stub.requests.length, 2)
      const { steps } = yield* stored(first.runId)
      assert.deepStrictEqual(steps.map((s) => [s.status, s.replayed, s.error?.tag ?? null]), [
        ["failed", false, "HttpResponseError"],
        ["completed", false, null]
      ])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a stream the consumer cuts short ends the call; the step is never replayed", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: "a b c d e f g h" }) })
      const { runId, parts } = yield* Effect.gen(function*() {
        const parts = yield* LanguageModel.streamText({ prompt: "letters" }).pipe(Stream.take(3), Stream.runCollect)
        return { runId: (yield* RunContext).runId, parts: Chunk.toArray(parts) }
      }).pipe(withRun("cut"), Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))))
      assert.deepStrictEqual(parts.map((p) => p.type), ["response-metadata", "text-start", "text-delta"])
      const { run, steps } = yield* stored(runId)
      assert.strictEqual(run.status, "completed")
      assert.deepStrictEqual(steps.map((s) => [s.name, s.status]), [["streamText", "interrupted"]])
      // it reached the provider, which bills it: unknown, not 0
      assert.isNull(steps[0]!.costUsd)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a call cut by a timeout after it reached the provider records its cost as unknown", () =>
    Effect.gen(function*() {
      const held = yield* Effect.makeLatch()
      const stub = yield* OpenAiStub.make({ hold: () => true, onHeld: () => held.unsafeOpen() })
      const fiber = yield* Effect.gen(function*() {
        const answer = yield* LanguageModel.generateText({ prompt: "slow" }).pipe(Effect.timeout("5 seconds"), Effect.option)
        return { runId: (yield* RunContext).runId, answered: answer._tag === "Some" }
      }).pipe(withRun("timeout"), Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))), Effect.fork)
      yield* held.await
      yield* TestClock.adjust("5 seconds")
      const { answered, runId } = yield* Fiber.join(fiber)
      assert.isFalse(answered)
      assert.strictEqual(stub.requests.length, 1)
      const { steps } = yield* stored(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.status, s.costUsd]), [["generateText", "interrupted", null]])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("drift under onDrift: \"fail\" fails the call with the ReplayError as cause", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const layer = TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))
      const program = (prompt: string) =>
        Effect.gen(function*() {
          const run = yield* RunContext
          yield* LanguageModel.generateText({ prompt })
          yield* run.checkpoint("after-call")
          return run.runId
        })
      const runId = yield* program("first prompt").pipe(stopAfter, withRun("strict"), stoppedValue, Effect.provide(layer))
      const error = yield* program("changed prompt").pipe(
        withRun({ name: "strict", resume: { runId, latest: true }, onDrift: "fail" }),
        Effect.provide(layer),
        Effect.flip
      )
      assert.strictEqual(error._tag, "UnknownError")
      const cause = (error as { cause?: { _tag?: string; reason?: string } }).cause
      assert.strictEqual(cause?._tag, "ReplayError")
      assert.strictEqual(cause?.reason, "InputChanged")
      assert.strictEqual(stub.requests.length, 1)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("checkpoint: \"afterEachCall\" makes calls replay on resume with no checkpoint in the program", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const layer = TrackedLanguageModel.layerWith({ checkpoint: "afterEachCall" }).pipe(Layer.provide(openAi(stub)))
      const program = (crash: boolean) =>
        Effect.gen(function*() {
          const run = yield* RunContext
          const a = yield* LanguageModel.generateText({ prompt: "one" })
          const b = yield* LanguageModel.streamText({ prompt: "two" }).pipe(Stream.runCollect)
          if (crash) return yield* Effect.die("crash")
          const c = yield* LanguageModel.generateText({ prompt: "three" })
          return { runId: run.runId, texts: [a.text, Chunk.size(b), c.text] }
        })
      const runIds: Array<string> = []
      const crashed = yield* Effect.gen(function*() {
        runIds.push((yield* RunContext).runId)
        return yield* program(true)
      }).pipe(withRun("auto"), Effect.provide(layer), Effect.exit)
      assert.isTrue(Exit.isFailure(crashed))
      assert.strictEqual(stub.requests.length, 2)
      const result = yield* program(false).pipe(
        withRun({ name: "auto", resume: { runId: runIds[0]!, latest: true } }),
        Effect.provide(layer)
      )
      assert.strictEqual(stub.requests.length, 3)
      assert.deepStrictEqual(result.texts, ["echo: one", 6, "echo: three"])
      const { replayed, steps } = yield* stored(runIds[0]!)
      assert.deepStrictEqual(steps.map((s) => [s.seq, s.name, s.replayed]), [
        [0, "generateText", false],
        [1, "streamText", false],
        [2, "generateText", false]
      ])
      assert.deepStrictEqual(replayed.map((s) => s.seq), [0, 1])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a model from no @effect/ai provider is called once per call: no request probe", () =>
    Effect.gen(function*() {
      let calls = 0
      const own = Layer.effect(
        LanguageModel.LanguageModel,
        LanguageModel.make({
          generateText: () =>
            Effect.sync(() => {
              calls++
              return [{ type: "text", text: "mine" }]
            }),
          streamText: () => Stream.empty
        })
      )
      const runId = yield* LanguageModel.generateText({ prompt: "hi" }).pipe(
        Effect.zipRight(Effect.map(RunContext, (run) => run.runId)),
        withRun("own"),
        Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(own)))
      )
      assert.strictEqual(calls, 1)
      const { steps } = yield* stored(runId)
      assert.isUndefined(JSON.parse(steps[0]!.input).request)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("providerRequest on a model that sends nothing through HttpClient: one probe ran it, then never again, with a warning", () =>
    Effect.gen(function*() {
      let calls = 0
      const warnings: Array<string> = []
      const inner = yield* LanguageModel.make({
        generateText: () =>
          Effect.sync(() => {
            calls++
            return [{ type: "text", text: "mine" }]
          }),
        streamText: () => Stream.empty
      })
      const model = yield* TrackedLanguageModel.make(inner, { providerRequest: true })
      yield* Effect.forEach([1, 2, 3], () => model.generateText({ prompt: "hi" })).pipe(
        withRun("own"),
        Effect.provide(Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ logLevel, message }) => {
            if (logLevel._tag === "Warning") warnings.push(String(message))
          })
        ))
      )
      // the first call ran twice (its probe, then the call), the others once
      assert.strictEqual(calls, 4)
      assert.strictEqual(warnings.filter((w) => w.includes("providerRequest")).length, 1)
    }).pipe(Effect.provide(LocalLayer)))
})
