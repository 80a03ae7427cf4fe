/**
 * TrackedLanguageModel against the real @effect/ai-openai client on a loopback stub of the
 * OpenAI Responses API: recorded steps, usage and cost, pass-through outside a run, replay of
 * generateText, generateObject and streamText, drift.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import { AnthropicClient, AnthropicLanguageModel } from "@effect/ai-anthropic"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { LocalLayer, RunContext, StepContext, type Usage, withAgent, withRun } from "@multirun/core"
import { Chunk, Effect, Layer, Logger, Redacted, Schema, Stream } from "effect"
import { Pricing, TrackedLanguageModel } from "../src/index.js"
import * as AnthropicStub from "./fixtures/AnthropicStub.js"
import * as OpenAiStub from "./fixtures/OpenAiStub.js"
import { openAi, stored } from "./helpers.js"
import { stopAfter, stoppedValue } from "@multirun/core/test-utils"

const fixedUsage = { input: 1200, output: 300, cached: 200, reasoning: 50 }

/** gpt-4o: 1,000 uncached × $2.50 + 200 cached × $1.25 + 300 output × $10, per million. */
const gpt4oCost = 0.00575

/** The model layers over a stub: tracked OpenAI `gpt-4o`, answers naming a dated model id. */
const tracked = (stub: OpenAiStub.OpenAiStub) => TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))

/**
 * A `StepContext` that notes every usage reported, then reports it to the real one (which every
 * run provides, so the result needs only `RunContext`).
 */
const spyUsage = <A, E, R>(self: Effect.Effect<A, E, R>, seen: Array<Usage>) =>
  Effect.flatMap(StepContext, (real) =>
    Effect.provideService(self, StepContext, {
      ...real,
      addUsage: (usage) => Effect.zipRight(Effect.sync(() => seen.push(usage)), real.addUsage(usage))
    })) as Effect.Effect<A, E, Exclude<R, StepContext> | RunContext>

describe("TrackedLanguageModel", () => {
  it.scoped("records each call as an llm_call step with model, input, output, usage and cost", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({
        reply: (request) => ({ text: `answer to ${request.text}`, usage: fixedUsage }),
        responseModel: (model) => `${model}-2024-08-06`
      })
      const seen: Array<Usage> = []
      const { runId, texts } = yield* Effect.gen(function*() {
        const a = yield* LanguageModel.generateText({ prompt: "first question" })
        const b = yield* LanguageModel.generateText({ prompt: "second question" })
        return { runId: (yield* RunContext).runId, texts: [a.text, b.text] }
      }).pipe((self) => spyUsage(self, seen), withRun("usage"), Effect.provide(tracked(stub)))
      assert.deepStrictEqual(texts, ["answer to first question", "answer to second question"])
      assert.strictEqual(stub.requests.length, 2)

      const expected: Usage = {
        inputTokens: 1200,
        outputTokens: 300,
        cachedInputTokens: 200,
        reasoningTokens: 50,
        tokensUsed: 1500,
        costUsd: gpt4oCost,
        model: "gpt-4o-2024-08-06"
      }
      assert.deepStrictEqual(seen, [expected, expected])

      const { run, steps } = yield* stored(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.kind, s.status, s.tokensUsed, s.costUsd]), [
        ["generateText", "llm_call", "completed", 1500, gpt4oCost],
        ["generateText", "llm_call", "completed", 1500, gpt4oCost]
      ])
      const input = JSON.parse(steps[0]!.input)
      assert.deepStrictEqual(input.prompt, {
        content: [{ content: "first question", options: {}, role: "user" }]
      })
      assert.deepStrictEqual(input.tools, {})
      assert.deepStrictEqual(input.responseFormat, { type: "text" })
      assert.strictEqual(input.provider, "openai")
      const output = JSON.parse(steps[0]!.output!) as Array<{ type: string; text?: string; modelId?: string }>
      assert.deepStrictEqual(output.map((p) => p.type), ["response-metadata", "text", "finish"])
      assert.strictEqual(output[0]!.modelId, "gpt-4o-2024-08-06")
      assert.strictEqual(output[1]!.text, "answer to first question")
      assert.strictEqual(run.stepCount, 2)
      assert.strictEqual(run.tokensUsed, 3000)
      assert.strictEqual(run.costUsd, 0.0115)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("Anthropic: cache reads are counted in the input tokens (core's meaning) and priced apart", () =>
    Effect.gen(function*() {
      const stub = yield* AnthropicStub.make({
        text: "Bonjour",
        usage: { input: 1000, output: 300, cacheRead: 200 },
        responseModel: "claude-sonnet-4-5-20250929"
      })
      const model = TrackedLanguageModel.model(AnthropicLanguageModel.model("claude-sonnet-4-5")).pipe(
        Layer.provide(AnthropicClient.layer({ apiKey: Redacted.make("sk-ant-test"), apiUrl: stub.url })),
        Layer.provide(FetchHttpClient.layer)
      )
      const seen: Array<Usage> = []
      const runId = yield* LanguageModel.generateText({ prompt: "Say hello in French" }).pipe(
        Effect.zipRight(Effect.map(RunContext, (run) => run.runId)),
        (self) => spyUsage(self, seen),
        withRun("anthropic"),
        Effect.provide(model)
      )
      assert.strictEqual(stub.requests.length, 1)
      // Anthropic's 1,000 input tokens exclude its 200 cache reads; core's input tokens include them.
      // 1,000 uncached input × $3 + 200 cache reads × $0.30 + 300 output × $15, per million
      assert.deepStrictEqual(seen, [{
        inputTokens: 1200,
        outputTokens: 300,
        cachedInputTokens: 200,
        tokensUsed: 1500,
        costUsd: 0.00756,
        model: "claude-sonnet-4-5-20250929"
      }])
      const { steps } = yield* stored(runId)
      assert.deepStrictEqual(
        steps.map((s) => [s.name, s.inputTokens, s.cachedInputTokens, s.tokensUsed, s.costUsd]),
        [["generateText", 1200, 200, 1500, 0.00756]]
      )
      assert.isAtMost(steps[0]!.cachedInputTokens!, steps[0]!.inputTokens!)
      const input = JSON.parse(steps[0]!.input)
      assert.strictEqual(input.provider, "anthropic")
      assert.strictEqual(input.request.model, "claude-sonnet-4-5")
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("outside a run, calls pass through untouched", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const response = yield* LanguageModel.generateText({ prompt: "no run here" }).pipe(Effect.provide(tracked(stub)))
      assert.strictEqual(response.text, "echo: no run here")
      const parts = yield* LanguageModel.streamText({ prompt: "still no run" }).pipe(
        Stream.runCollect,
        Effect.provide(tracked(stub))
      )
      const text = Chunk.toArray(parts).flatMap((p) => p.type === "text-delta" ? [p.delta] : []).join("")
      assert.strictEqual(text, "echo: still no run")
      assert.strictEqual(stub.requests.length, 2)
    }))

  it.scoped("an unknown model records cost as unknown and warns once per model id", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: "ok", usage: fixedUsage }) })
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const seen: Array<Usage> = []
      yield* Effect.gen(function*() {
        yield* LanguageModel.generateText({ prompt: "one" })
        yield* LanguageModel.generateText({ prompt: "two" })
      }).pipe(
        (self) => spyUsage(self, seen),
        withRun("unknown"),
        Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub, "acme-llm-7")))),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      assert.deepStrictEqual(seen.map((u) => [u.model, u.costUsd, u.tokensUsed]), [
        ["acme-llm-7", null, 1500],
        ["acme-llm-7", null, 1500]
      ])
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], `model "acme-llm-7"`)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("Pricing.layer overrides the table", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: "ok", usage: fixedUsage }) })
      const table: Pricing.PriceTable = {
        date: "2026-01-01",
        source: "test",
        models: { "acme-llm-7": { input: 1, output: 3, cachedInput: 0.1 } }
      }
      const runId = yield* LanguageModel.generateText({ prompt: "priced" }).pipe(
        Effect.zipRight(Effect.map(RunContext, (run) => run.runId)),
        withRun("priced"),
        Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub, "acme-llm-7")))),
        Effect.provide(Pricing.layer(table))
      )
      const { steps } = yield* stored(runId)
      // 1,000 × $1 + 200 × $0.10 + 300 × $3 per million = $0.00192
      assert.strictEqual(steps[0]!.costUsd, 0.00192)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a price table provided on the model layer prices that model's calls", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: "ok", usage: fixedUsage }) })
      const table: Pricing.PriceTable = {
        date: "2026-12-01",
        source: "test",
        models: { "gpt-4o": { input: 1, output: 3, cachedInput: 0.1 } }
      }
      const model = TrackedLanguageModel.model(OpenAiLanguageModel.model("gpt-4o")).pipe(
        Layer.provide(Pricing.layer(table)),
        Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make("sk-test"), apiUrl: stub.url })),
        Layer.provide(FetchHttpClient.layer)
      )
      const call = LanguageModel.generateText({ prompt: "priced" }).pipe(
        Effect.zipRight(Effect.map(RunContext, (run) => run.runId)),
        withRun("own-table"),
        Effect.provide(model)
      )
      // 1,000 × $1 + 200 × $0.10 + 300 × $3 per million = $0.00192 (the shipped table: $0.00575)
      const { steps } = yield* stored(yield* call)
      assert.strictEqual(steps[0]!.costUsd, 0.00192)
      // the model's own table wins over one in the context of the call
      const { steps: again } = yield* stored(yield* call.pipe(Effect.provide(Pricing.layerDefault)))
      assert.strictEqual(again[0]!.costUsd, 0.00192)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("generateObject is recorded and replayed with the same value", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: JSON.stringify({ city: "Paris", population: 2102650 }) }) })
      const City = Schema.Struct({ city: Schema.String, population: Schema.Number })
      const program = Effect.gen(function*() {
        const run = yield* RunContext
        const response = yield* LanguageModel.generateObject({ prompt: "largest city of France", schema: City })
        yield* run.checkpoint("after-object")
        return { runId: run.runId, value: response.value }
      })
      const first = yield* program.pipe(stopAfter, withRun("object"), stoppedValue, Effect.provide(tracked(stub)))
      assert.deepStrictEqual(first.value, { city: "Paris", population: 2102650 })
      const again = yield* program.pipe(
        withRun({ name: "object", resume: { runId: first.runId, latest: true } }),
        Effect.provide(tracked(stub))
      )
      assert.deepStrictEqual(again, first)
      assert.strictEqual(stub.requests.length, 1)
      const { replayed, steps } = yield* stored(first.runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.replayed]), [["generateObject", false]])
      assert.deepStrictEqual(replayed.map((s) => s.seq), [0])
      assert.strictEqual(JSON.parse(steps[0]!.input).responseFormat.objectName, "generateObject")
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a streamed call is recorded when it ends and replayed part by part", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: () => ({ text: "one two three four", usage: fixedUsage }) })
      const program = Effect.gen(function*() {
        const run = yield* RunContext
        const parts = yield* LanguageModel.streamText({ prompt: "count to four" }).pipe(Stream.runCollect)
        yield* run.checkpoint("after-stream")
        return { runId: run.runId, parts: Chunk.toArray(parts).map((p) => ({ ...p })) }
      })
      const first = yield* program.pipe(stopAfter, withRun("stream"), stoppedValue, Effect.provide(tracked(stub)))
      const deltas = first.parts.flatMap((p) => p.type === "text-delta" ? [p.delta] : [])
      assert.deepStrictEqual(deltas, ["one ", "two ", "three ", "four"])
      assert.deepStrictEqual(first.parts.map((p) => p.type), [
        "response-metadata",
        "text-start",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-end",
        "finish"
      ])

      const again = yield* program.pipe(
        withRun({ name: "stream", resume: { runId: first.runId, latest: true } }),
        Effect.provide(tracked(stub))
      )
      assert.strictEqual(stub.requests.length, 1)
      assert.deepStrictEqual(again.parts, first.parts)
      const { replayed, run, steps } = yield* stored(first.runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.kind, s.replayed, s.tokensUsed, s.costUsd]), [
        ["streamText", "llm_call", false, 1500, gpt4oCost]
      ])
      assert.deepStrictEqual(replayed.map((s) => s.seq), [0])
      assert.strictEqual(JSON.parse(steps[0]!.output!).length, 8)
      assert.strictEqual(JSON.parse(steps[0]!.input).request.stream, true)
      assert.strictEqual(run.tokensUsed, 1500)
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a changed prompt on resume is reported as drift and executed", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const program = (prompt: string) =>
        Effect.gen(function*() {
          const run = yield* RunContext
          const response = yield* LanguageModel.generateText({ prompt })
          yield* run.checkpoint("after-call")
          return { runId: run.runId, text: response.text }
        })
      const first = yield* program("What is the capital of France?").pipe(
        stopAfter,
        withRun("drift"),
        stoppedValue,
        Effect.provide(tracked(stub))
      )
      const again = yield* program("What is the capital of Italy?").pipe(
        withRun({ name: "drift", resume: { runId: first.runId, latest: true } }),
        Effect.provide(tracked(stub))
      )
      assert.strictEqual(again.text, "echo: What is the capital of Italy?")
      assert.strictEqual(stub.requests.length, 2)
      // decided at the run's end, when the recorded call was left unmatched
      const { run, steps } = yield* stored(first.runId)
      assert.strictEqual(run.drifts, 1)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.drift]), [
        ["generateText", null],
        ["generateText", "input.prompt.content[0].content"]
      ])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("the model id and the layer's own settings are part of the input: a switch on resume is drift", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({
        reply: (request) => ({ text: `${request.body.model} at ${request.body.temperature} says hi` })
      })
      const model = (id: string, temperature: number) =>
        TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub, id, { temperature })))
      const program = Effect.gen(function*() {
        const run = yield* RunContext
        const response = yield* LanguageModel.generateText({ prompt: "Say hi" })
        yield* run.checkpoint("after-call")
        return { runId: run.runId, text: response.text }
      })
      /** A first attempt on one model layer, stopped, then its resume on another. */
      const switchOnResume = (before: Layer.Layer<LanguageModel.LanguageModel>, after: typeof before) =>
        Effect.gen(function*() {
          const first = yield* program.pipe(stopAfter, withRun("switch"), stoppedValue, Effect.provide(before))
          const again = yield* program.pipe(
            withRun({ name: "switch", resume: { runId: first.runId, latest: true } }),
            Effect.provide(after)
          )
          return { text: again.text, ...(yield* stored(first.runId)) }
        })

      const byId = yield* switchOnResume(model("gpt-4o", 0.2), model("gpt-4o-mini", 0.2))
      assert.strictEqual(byId.text, "gpt-4o-mini at 0.2 says hi")
      assert.strictEqual(stub.requests.length, 2)
      assert.strictEqual(byId.run.drifts, 1)
      assert.deepStrictEqual(byId.steps.map((s) => [s.replayed, s.drift]), [[false, null], [false, "input.model"]])
      const input = JSON.parse(byId.steps[0]!.input)
      assert.strictEqual(input.model, "gpt-4o")
      assert.strictEqual(input.request.model, "gpt-4o")
      assert.strictEqual(input.request.temperature, 0.2)

      const byConfig = yield* switchOnResume(model("gpt-4o", 0.2), model("gpt-4o", 0.7))
      assert.strictEqual(byConfig.text, "gpt-4o at 0.7 says hi")
      assert.strictEqual(stub.requests.length, 4)
      assert.deepStrictEqual(byConfig.steps.map((s) => [s.replayed, s.drift]), [
        [false, null],
        [false, "input.request.temperature"]
      ])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("two models asked the same prompt concurrently each replay their own answer", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: (request) => ({ text: `${request.body.model} says hi` }) })
      const ask = (id: string) =>
        LanguageModel.generateText({ prompt: "Say hi" }).pipe(
          Effect.map((response) => response.text),
          Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub, id))))
        )
      // the two calls start in one order in the first attempt and in the other on resume
      const program = (order: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const run = yield* RunContext
          const texts = yield* Effect.all(order.map(ask), { concurrency: "unbounded" })
          yield* run.checkpoint("after-calls")
          return { runId: run.runId, texts: Object.fromEntries(order.map((id, i) => [id, texts[i]])) }
        }).pipe(withAgent("panel"))
      const first = yield* program(["gpt-4o", "gpt-4o-mini"]).pipe(stopAfter, withRun("panel"), stoppedValue)
      const again = yield* program(["gpt-4o-mini", "gpt-4o"]).pipe(
        withRun({ name: "panel", resume: { runId: first.runId, latest: true } })
      )
      assert.deepStrictEqual(again.texts, { "gpt-4o": "gpt-4o says hi", "gpt-4o-mini": "gpt-4o-mini says hi" })
      assert.deepStrictEqual(first.texts, again.texts)
      assert.strictEqual(stub.requests.length, 2)
      const { replayed, run, steps } = yield* stored(first.runId)
      assert.strictEqual(run.drifts, 0)
      assert.deepStrictEqual([steps.length, replayed.map((s) => s.seq)], [2, [0, 1]])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("withStepName names the steps of the calls it wraps, data-last and data-first", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const runId = yield* LanguageModel.generateText({ prompt: "plan it" }).pipe(
        TrackedLanguageModel.withStepName("plan"),
        Effect.zipRight(TrackedLanguageModel.withStepName(LanguageModel.generateText({ prompt: "sum it up" }), "summarize")),
        Effect.zipRight(LanguageModel.generateText({ prompt: "unnamed" })),
        Effect.zipRight(Effect.map(RunContext, (run) => run.runId)),
        withRun("named"),
        Effect.provide(tracked(stub))
      )
      const { steps } = yield* stored(runId)
      assert.deepStrictEqual(steps.map((s) => s.name), ["plan", "summarize", "generateText"])
    }).pipe(Effect.provide(LocalLayer)))
})
