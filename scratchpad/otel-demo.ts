/**
 * OpenTelemetry: a small crew (planner, researcher, writer) runs with `Telemetry.layer`; then a
 * second run forks from the checkpoint taken after planning, replays the planner (no second
 * call) and writes a shorter draft. Every run, agent and step is a span with the GenAI
 * attributes (`invoke_agent`, `chat {model}`, `execute_tool`, `gen_ai.usage.*`), one trace per run.
 *
 * - With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans go out through OTLP/HTTP, e.g. to Jaeger
 *   (`http://localhost:4318`) or Langfuse (`https://cloud.langfuse.com/api/public/otel`, with
 *   `OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic <base64 of public:secret key>"`).
 * - Without it, the span tree is printed here (no network needed).
 *
 * Run: npm run demo:otel
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { Memory, RunContext, step, Telemetry, withAgent, withRun } from "@multirun/core"

const endpoint = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]

/** A fake chat model: a short wait, then an answer with usage as a provider reports it. */
const chat = (name: string, model: string, prompt: string) =>
  Effect.sleep("30 millis").pipe(
    Effect.as({
      text: `«${prompt}» answered`,
      inputTokens: 40 + prompt.length,
      outputTokens: 120,
      model: `${model}-2024-07-18`
    }),
    step(name, {
      kind: "llm_call",
      input: { model, prompt },
      usage: (answer) => ({
        inputTokens: answer.inputTokens,
        outputTokens: answer.outputTokens,
        costUsd: (answer.inputTokens * 0.15 + answer.outputTokens * 0.6) / 1e6,
        model: answer.model
      })
    }),
    Effect.map((answer) => answer.text)
  )

const search = (query: string) =>
  Effect.sleep("10 millis").pipe(
    Effect.as([`https://example.org/${encodeURIComponent(query)}`]),
    step("search", { kind: "tool_call", input: { query } })
  )

const planner = withAgent("planner")(chat("plan", "gpt-4o-mini", "plan an article on durable agents"))

const crew = Effect.gen(function*() {
  const run = yield* RunContext
  const plan = yield* planner
  const checkpoint = yield* run.checkpoint("planned")
  const sources = yield* withAgent("researcher")(Effect.gen(function*() {
    const found = yield* search("durable execution")
    return yield* chat("summarize", "gpt-4o-mini", `summarize ${found.join(", ")}`)
  }))
  yield* withAgent("writer")(chat("draft", "gpt-4o", `${plan} / ${sources}`))
  return checkpoint.id
})

/** A run forked from the checkpoint: the planner is replayed from the record, the writer runs. */
const shorter = Effect.gen(function*() {
  const plan = yield* planner
  yield* withAgent("writer")(chat("draft", "gpt-4o", `${plan}, in 200 words`))
})

/** Prints finished spans as a tree: name, duration, and the attributes worth a glance. */
const printTree = (spans: ReadonlyArray<ReadableSpan>) => {
  const shown = [
    "gen_ai.agent.name",
    "gen_ai.request.model",
    "gen_ai.tool.name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "multirun.cost_usd",
    "multirun.step.replayed"
  ]
  const children = new Map<string | undefined, Array<ReadableSpan>>()
  const ids = new Set(spans.map((span) => span.spanContext().spanId))
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId
    const key = parent !== undefined && ids.has(parent) ? parent : undefined
    children.set(key, [...(children.get(key) ?? []), span])
  }
  const start = (span: ReadableSpan) => span.startTime[0] * 1e9 + span.startTime[1]
  const print = (span: ReadableSpan, depth: number) => {
    const ms = span.duration[0] * 1e3 + span.duration[1] / 1e6
    const attributes = shown
      .filter((key) => span.attributes[key] !== undefined)
      .map((key) => `${key.replace(/^(gen_ai|multirun)\./, "")}=${String(span.attributes[key])}`)
    const status = span.status.code === 2 ? " ✗" : ""
    console.log(`${"  ".repeat(depth)}${span.name}${status}  ${ms.toFixed(1)} ms  ${attributes.join(" ")}`)
    for (const child of (children.get(span.spanContext().spanId) ?? []).sort((a, b) => start(a) - start(b))) {
      print(child, depth + 1)
    }
  }
  for (const root of children.get(undefined) ?? []) print(root, 0)
}

const memory = new InMemorySpanExporter()
const spanProcessor = endpoint === undefined
  ? new SimpleSpanProcessor(memory)
  // reads OTEL_EXPORTER_OTLP_ENDPOINT (adding /v1/traces) and OTEL_EXPORTER_OTLP_HEADERS
  : new BatchSpanProcessor(new OTLPTraceExporter())

const main = Effect.gen(function*() {
  const checkpointId = yield* withRun("otel-demo")(crew)
  yield* withRun({ name: "otel-demo-shorter", forkFrom: checkpointId })(shorter)
  if (endpoint === undefined) {
    console.log("spans of two runs (set OTEL_EXPORTER_OTLP_ENDPOINT to send them through OTLP/HTTP):\n")
    printTree(memory.getFinishedSpans())
  } else {
    console.log(`two runs traced; spans sent to ${endpoint} (service multirun-otel-demo)`)
  }
}).pipe(
  Effect.provide(Layer.mergeAll(Memory.layer, Telemetry.layer)),
  Effect.provide(NodeSdk.layer(() => ({ resource: { serviceName: "multirun-otel-demo" }, spanProcessor })))
)

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exit(1)
})
