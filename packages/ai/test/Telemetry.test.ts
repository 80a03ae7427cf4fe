/**
 * TrackedLanguageModel under `Telemetry.layer` and `@effect/opentelemetry`: a backend that sums
 * `gen_ai.usage.*` over the exported spans counts each token once, as stored.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as LanguageModel from "@effect/ai/LanguageModel"
import { assert, describe, it } from "@effect/vitest"
import { LocalLayer, RunContext, Telemetry, withRun } from "@multirun/core"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Stream } from "effect"
import { TrackedLanguageModel } from "../src/index.js"
import * as OpenAiStub from "./fixtures/OpenAiStub.js"
import { openAi, stored } from "./helpers.js"

/** What a backend adding up one `gen_ai.usage.*` attribute over every span would show. */
const summed = (spans: ReadonlyArray<ReadableSpan>, attribute: string) =>
  spans.reduce((total, span) => {
    const value = span.attributes[attribute]
    return total + (typeof value === "number" ? value : 0)
  }, 0)

describe("TrackedLanguageModel telemetry", () => {
  it.scoped("summed over the exported spans, gen_ai.usage.* counts each token once", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const sdk = NodeSdk.layer(() => ({
        resource: { serviceName: "multirun-ai-test" },
        spanProcessor: new SimpleSpanProcessor(exporter)
      }))
      const stub = yield* OpenAiStub.make({
        reply: () => ({ text: "one two", usage: { input: 1200, output: 300, cached: 200, reasoning: 50 } })
      })
      const { runId, spans } = yield* Effect.gen(function*() {
        const runId = yield* Effect.gen(function*() {
          yield* LanguageModel.generateText({ prompt: "first" })
          yield* LanguageModel.streamText({ prompt: "second" }).pipe(Stream.runDrain)
          return (yield* RunContext).runId
        }).pipe(withRun("telemetry"), Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))))
        // read before the SDK shuts down, which empties the exporter
        return { runId, spans: [...exporter.getFinishedSpans()] }
      }).pipe(Effect.provide(Layer.merge(Telemetry.layer, sdk)))
      const { run } = yield* stored(runId)
      const names = spans.map((span) => span.name)
      // the provider's own spans are exported too, below the steps' chat spans
      assert.include(names, "LanguageModel.generateText")
      assert.include(names, "LanguageModel.streamText")
      // and stay in the run's one trace tree: the run's span is the only root
      assert.deepStrictEqual(spans.filter((span) => span.parentSpanContext === undefined).map((span) => span.name), [
        "multirun.run telemetry"
      ])
      assert.strictEqual(run.inputTokens, 2400)
      assert.strictEqual(summed(spans, "gen_ai.usage.input_tokens"), 2400)
      assert.strictEqual(summed(spans, "gen_ai.usage.output_tokens"), 600)
    }).pipe(Effect.provide(LocalLayer)))
})
