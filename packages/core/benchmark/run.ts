/**
 * Core benchmark: the per-step cost of `step()` on LocalLayer against a bare Effect doing the
 * same work and an OpenTelemetry span with the same attributes, the cost of `Telemetry.layer`
 * (a span per step exported by `@effect/opentelemetry`), and the replay rate. Costs are wall
 * time per item, the median of several rounds, all measured in this one process.
 * Run: `npm run bench` (compiled, on dist), or `npx tsx --conditions=@multirun/source packages/core/benchmark/run.ts`
 *
 * With `--figure step` or `--figure replay` it measures only that figure of `npm run bench`'s table
 * (packages/server/benchmark/all.ts) and prints it as one JSON line, `{ measured, baseline }`:
 * µs per `step()` and per kept OpenTelemetry span, or replayed and bare-Effect steps/s.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  type SpanExporter
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { performance } from "node:perf_hooks"
import { LocalLayer, RunContext, step, Telemetry, withAgent, withRun } from "@multirun/core"
import { body, spansWith, steps } from "./workload.js"

const N = 100_000
const ROUNDS = 5

const program = (count: number) => withRun("bench")(withAgent("agent")(steps(count)))

const tracked = (count: number) => program(count).pipe(Effect.provide(LocalLayer))

/** Counts the spans it receives and keeps none. */
class CountingExporter implements SpanExporter {
  count = 0
  export(spans: Array<ReadableSpan>, done: Parameters<SpanExporter["export"]>[1]): void {
    this.count += spans.length
    done({ code: 0 }) // ExportResultCode.SUCCESS
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const counting = new CountingExporter()

/** The same program with `Telemetry.layer`, its spans exported by NodeSdk through a default BatchSpanProcessor. */
const traced = (count: number) =>
  program(count).pipe(
    Effect.provide(Layer.mergeAll(LocalLayer, Telemetry.layer)),
    Effect.provide(NodeSdk.layer(() => ({
      resource: { serviceName: "multirun-bench" },
      spanProcessor: new BatchSpanProcessor(counting)
    })))
  )

const bare = (count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) yield* body(i)
  })

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 2048, maxExportBatchSize: 512 })]
})

// the same exporter with a queue large enough that no span is dropped, flushed at the end
const keepingExporter = new InMemorySpanExporter()
const keepingProvider = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(keepingExporter, { maxQueueSize: N + 1, maxExportBatchSize: 512 })]
})

const spans = spansWith(provider.getTracer("bench"), () => Promise.resolve())
const keptSpans = spansWith(keepingProvider.getTracer("bench"), async () => {
  await keepingProvider.forceFlush()
  keepingExporter.reset()
})

/** Records `count` steps, then restores and replays them `rounds` times: median ms per replay. */
const replay = (count: number, rounds: number) =>
  withRun("replay-bench")(withAgent("agent")(Effect.gen(function*() {
    const ctx = yield* RunContext
    const run = Effect.gen(function*() {
      for (let i = 0; i < count; i++) yield* body(i).pipe(step("llm", { input: { prompt: "p", i } }))
    })
    yield* run
    const checkpoint = yield* ctx.checkpoint("all")
    const samples: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      yield* ctx.restoreFromCheckpoint(checkpoint.id)
      const start = performance.now()
      yield* run
      samples.push(performance.now() - start)
      if (yield* ctx.isReplaying) throw new Error("replay did not consume the cache")
    }
    return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!
  }))).pipe(Effect.provide(LocalLayer))

const perStepMicros = async (effect: (n: number) => Effect.Effect<unknown, unknown>): Promise<number> => {
  await Effect.runPromise(effect(10_000)) // warm-up
  const samples: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    await Effect.runPromise(effect(N))
    samples.push(((performance.now() - start) * 1000) / N)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]!
}

/** Spans the exporter received out of those ended: BatchSpanProcessor drops when its queue is full. */
const spanDelivery = async (): Promise<number> => {
  await provider.forceFlush()
  exporter.reset()
  await Effect.runPromise(spans(N))
  await provider.forceFlush()
  return exporter.getFinishedSpans().length / N
}

/** Spans exported out of those made by a traced run of `N` steps (a step span each, plus run and agent). */
const tracedDelivery = async (): Promise<number> => {
  counting.count = 0
  await Effect.runPromise(traced(N))
  return counting.count / (N + 2)
}

const figures: Record<string, () => Promise<{ measured: number; baseline: number }>> = {
  step: async () => ({ measured: await perStepMicros(tracked), baseline: await perStepMicros(keptSpans) }),
  replay: async () => {
    // a replay of 10,000 steps lasts some 50 ms: more rounds than the others keep a burst of
    // another process from deciding the median
    const replayMs = await Effect.runPromise(replay(10_000, 5 * ROUNDS))
    // baseline: the same step bodies as a bare Effect loop, the ceiling of a replay
    return { measured: Math.round(10_000 / (replayMs / 1000)), baseline: Math.round(1_000_000 / await perStepMicros(bare)) }
  }
}

const main = async () => {
  const at = process.argv.indexOf("--figure")
  if (at > 0) {
    const figure = figures[process.argv[at + 1]!]
    if (!figure) throw new Error(`--figure takes one of ${Object.keys(figures).join(", ")}`)
    return console.log(JSON.stringify(await figure()))
  }
  const bareUs = await perStepMicros(bare)
  const spanUs = await perStepMicros(spans)
  const delivered = await spanDelivery()
  const keptUs = await perStepMicros(keptSpans)
  const stepUs = await perStepMicros(tracked)
  const tracedUs = await perStepMicros(traced)
  const tracedDelivered = await tracedDelivery()
  await provider.shutdown()
  await keepingProvider.shutdown()
  const replayMs = await Effect.runPromise(replay(10_000, ROUNDS))
  const rows: ReadonlyArray<readonly [string, string]> = [
    ["bare Effect (same body)", `${bareUs.toFixed(3)} µs/step`],
    ["OpenTelemetry span (BatchSpanProcessor)", `${spanUs.toFixed(3)} µs/span, ${(100 * (1 - delivered)).toFixed(1)}% of spans dropped`],
    ["step() on LocalLayer", `${stepUs.toFixed(3)} µs/step, none dropped`],
    [
      "step() with Telemetry.layer",
      `${tracedUs.toFixed(3)} µs/step (NodeSdk, BatchSpanProcessor), ${(100 * (1 - tracedDelivered)).toFixed(1)}% of spans dropped`
    ],
    ["ratio step with Telemetry / step", `${(tracedUs / stepUs).toFixed(2)}`],
    ["OpenTelemetry span, queue sized to keep all", `${keptUs.toFixed(3)} µs/span, exported at the end`],
    ["ratio step / span", `${(stepUs / spanUs).toFixed(2)} (target ≤ 1.0)`],
    ["ratio step / span that keeps all", `${(stepUs / keptUs).toFixed(2)}`],
    ["replay of 10,000 recorded steps", `${Math.round(10_000 / (replayMs / 1000)).toLocaleString("en")} steps/s (target ≥ 200,000)`]
  ]
  console.log(`core (wall time, median of ${ROUNDS} rounds of ${N.toLocaleString("en")}):`)
  for (const [name, value] of rows) console.log(`  ${name.padEnd(44)} ${value}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
