/**
 * TrackedToolkit: tool handlers called by @effect/ai's tool resolution are `tool_call` steps,
 * recorded with their parameters and result and replayed on resume with the model calls.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { assert, describe, it } from "@effect/vitest"
import { LocalLayer, RunContext, withRun } from "@multirun/core"
import { Effect, Layer, Schema } from "effect"
import { TrackedLanguageModel, TrackedToolkit } from "../src/index.js"
import * as OpenAiStub from "./fixtures/OpenAiStub.js"
import { stopAfter, stoppedValue } from "@multirun/core/test-utils"
import { openAi, stored } from "./helpers.js"

const GetWeather = Tool.make("GetWeather", {
  description: "The current weather in a city",
  parameters: { city: Schema.String },
  success: Schema.Struct({ temperatureC: Schema.Number, observedAt: Schema.Date })
})

const WeatherToolkit = Toolkit.make(GetWeather)

/** The model calls the tool first, then answers from its result. */
const weatherReply = (request: OpenAiStub.StubRequest): OpenAiStub.StubReply => {
  const answered = (request.body.input as Array<{ type?: string }>).some((item) => item.type === "function_call_output")
  return request.body.tools?.length > 0 && !answered
    ? { toolCall: { name: "GetWeather", arguments: { city: "Paris" } } }
    : { text: `Weather report: ${request.text.split("\n").at(-1)}` }
}

describe("TrackedToolkit", () => {
  it.scoped("a tool call is a tool_call step, recorded and replayed with the model calls", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: weatherReply })
      let handlerCalls = 0
      const handlers = WeatherToolkit.toLayer({
        GetWeather: ({ city }) =>
          Effect.sync(() => {
            handlerCalls++
            return { temperatureC: city === "Paris" ? 21 : 0, observedAt: new Date("2025-06-01T12:00:00.000Z") }
          })
      })
      const program = Effect.gen(function*() {
        const run = yield* RunContext
        const prompt = Prompt.make("What is the weather in Paris?")
        const first = yield* LanguageModel.generateText({ prompt, toolkit: WeatherToolkit })
        const result = first.toolResults[0]!.result
        const second = yield* LanguageModel.generateText({
          prompt: Prompt.merge(prompt, Prompt.fromResponseParts(first.content)),
          toolkit: WeatherToolkit
        })
        yield* run.checkpoint("answered")
        return { runId: run.runId, result, answer: second.text }
      })
      const layers = Layer.mergeAll(
        TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub))),
        TrackedToolkit.layer(WeatherToolkit).pipe(Layer.provide(handlers))
      )

      const first = yield* program.pipe(stopAfter, withRun("weather"), stoppedValue, Effect.provide(layers))
      assert.strictEqual(handlerCalls, 1)
      assert.strictEqual(stub.requests.length, 2)
      assert.instanceOf(first.result.observedAt, Date)
      assert.deepStrictEqual(first.result, { temperatureC: 21, observedAt: new Date("2025-06-01T12:00:00.000Z") })
      assert.strictEqual(first.answer, `Weather report: {"temperatureC":21,"observedAt":"2025-06-01T12:00:00.000Z"}`)

      const again = yield* program.pipe(
        withRun({ name: "weather", resume: { runId: first.runId, latest: true } }),
        Effect.provide(layers)
      )
      assert.strictEqual(handlerCalls, 1)
      assert.strictEqual(stub.requests.length, 2)
      assert.deepStrictEqual(again, first)
      assert.instanceOf(again.result.observedAt, Date)

      const { replayed, steps } = yield* stored(first.runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.kind, s.replayed]), [
        ["generateText", "llm_call", false],
        ["GetWeather", "tool_call", false],
        ["generateText", "llm_call", false]
      ])
      assert.deepStrictEqual(replayed.map((s) => s.seq), [0, 1, 2])
      const tool = steps[1]!
      assert.deepStrictEqual(JSON.parse(tool.input), { params: { city: "Paris" } })
      assert.deepStrictEqual(JSON.parse(tool.output!), { observedAt: "2025-06-01T12:00:00.000Z", temperatureC: 21 })
      const call = JSON.parse(steps[0]!.input)
      assert.deepStrictEqual(Object.keys(call.tools), ["GetWeather"])
      assert.strictEqual(call.toolChoice, "auto")
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("tools are keyed by name: a reordered toolkit replays, a changed description is drift naming the tool", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make()
      const GetTime = Tool.make("GetTime", { description: "The time in a city", parameters: { city: Schema.String } })
      const Described = (description: string) =>
        Tool.make("GetWeather", { description, parameters: { city: Schema.String }, success: Schema.Number })
      const program = (toolkit: Toolkit.Any) =>
        Effect.gen(function*() {
          const run = yield* RunContext
          const response = yield* LanguageModel.generateText({ prompt: "Weather and time in Paris?", toolkit: toolkit as never, disableToolCallResolution: true })
          yield* run.checkpoint("answered")
          return { runId: run.runId, text: response.text }
        })
      const layer = TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))
      const first = yield* program(Toolkit.make(GetWeather, GetTime)).pipe(stopAfter, withRun("order"), stoppedValue, Effect.provide(layer))
      // the same tools in the other order: replayed, no request, no drift
      yield* program(Toolkit.make(GetTime, GetWeather)).pipe(
        stopAfter,
        withRun({ name: "order", resume: { runId: first.runId, latest: true } }),
        stoppedValue,
        Effect.provide(layer)
      )
      assert.strictEqual(stub.requests.length, 1)
      // a changed description: drift, with the tool's name in the path
      yield* program(Toolkit.make(GetTime, Described("Weather, in Celsius"))).pipe(
        withRun({ name: "order", resume: { runId: first.runId, latest: true } }),
        Effect.provide(layer)
      )
      assert.strictEqual(stub.requests.length, 2)
      const { replayed, run, steps } = yield* stored(first.runId)
      assert.strictEqual(run.drifts, 1)
      assert.deepStrictEqual(steps.map((s) => [s.replayed, s.drift]), [
        [false, null],
        [false, "input.request.tools.GetWeather.description"]
      ])
      // the reordered toolkit's call replayed the first record
      assert.deepStrictEqual(replayed.map((s) => s.seq), [0])
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("a handler's own error tagged BackendError is returned to the model under failureMode return", () =>
    Effect.gen(function*() {
      /** A user's error that happens to share the tag of a multirun error. */
      class BackendError extends Schema.TaggedError<BackendError>()("BackendError", { message: Schema.String }) {}
      const Lookup = Tool.make("GetWeather", {
        parameters: { city: Schema.String },
        success: Schema.Struct({ temperatureC: Schema.Number }),
        failure: BackendError,
        failureMode: "return"
      })
      const LookupToolkit = Toolkit.make(Lookup)
      const stub = yield* OpenAiStub.make({ reply: weatherReply })
      const handlers = LookupToolkit.toLayer({
        GetWeather: () => Effect.fail(new BackendError({ message: "weather service down" }))
      })
      const response = yield* LanguageModel.generateText({ prompt: "Weather?", toolkit: LookupToolkit }).pipe(
        withRun("user-error"),
        Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))),
        Effect.provide(TrackedToolkit.layer(LookupToolkit).pipe(Layer.provide(handlers)))
      )
      const result = response.toolResults[0]!
      assert.isTrue(result.isFailure)
      assert.instanceOf(result.result, BackendError)
      assert.strictEqual((result.result as BackendError).message, "weather service down")
    }).pipe(Effect.provide(LocalLayer)))

  it.scoped("outside a run, handlers run untouched", () =>
    Effect.gen(function*() {
      const stub = yield* OpenAiStub.make({ reply: weatherReply })
      let handlerCalls = 0
      const handlers = WeatherToolkit.toLayer({
        GetWeather: () =>
          Effect.sync(() => {
            handlerCalls++
            return { temperatureC: 5, observedAt: new Date("2025-01-01T00:00:00.000Z") }
          })
      })
      const response = yield* LanguageModel.generateText({ prompt: "Weather?", toolkit: WeatherToolkit }).pipe(
        Effect.provide(TrackedLanguageModel.layer.pipe(Layer.provide(openAi(stub)))),
        Effect.provide(TrackedToolkit.layer(WeatherToolkit).pipe(Layer.provide(handlers)))
      )
      assert.strictEqual(handlerCalls, 1)
      assert.strictEqual(response.toolResults[0]!.result.temperatureC, 5)
    }))
})
