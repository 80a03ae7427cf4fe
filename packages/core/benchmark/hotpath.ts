/**
 * Hot-path probe for instruction counts: one variant per process, so
 * `valgrind --tool=callgrind node --single-threaded --predictable packages/core/build/benchmark/hotpath.js VARIANT N [ROUNDS]`
 * at two sizes gives the instructions of one item without wall-time noise: a step is
 * (Ir(step N) − Ir(step 0)) / N, or (Ir(step 4N) − Ir(step N)) / 3N once warm. Variants: `step`
 * (`step()` on LocalLayer, as in run.ts), `span` (an OpenTelemetry span kept by a BatchSpanProcessor
 * with a queue sized to N), `restore` (record N steps, checkpoint, then ROUNDS times restore) and
 * `replay` (the same, each restore followed by the N steps, all replayed): a replayed step is
 * (Ir(replay N) − Ir(restore N)) / N. Counts still vary by about 2% between runs (garbage
 * collection), so compare sizes of 10,000 steps or more.
 */
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { LocalLayer, RunContext, withAgent, withRun } from "@multirun/core"
import { spansWith, steps } from "./workload.js"

const variant = process.argv[2] ?? "step"
const count = Number(process.argv[3] ?? 10_000)
const rounds = Number(process.argv[4] ?? 1)

const tracked = withRun("probe")(withAgent("agent")(steps(count))).pipe(Effect.provide(LocalLayer))

const replay = (again: boolean) =>
  withRun("probe")(withAgent("agent")(Effect.gen(function*() {
    const ctx = yield* RunContext
    yield* steps(count)
    const checkpoint = yield* ctx.checkpoint("all")
    for (let round = 0; round < rounds; round++) {
      yield* ctx.restoreFromCheckpoint(checkpoint.id)
      if (again) yield* steps(count)
      if (again && (yield* ctx.isReplaying)) throw new Error("replay did not consume the cache")
    }
  }))).pipe(Effect.provide(LocalLayer))

const spans = Effect.suspend(() => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: count + 1, maxExportBatchSize: 512 })]
  })
  return spansWith(provider.getTracer("probe"), async () => {
    await provider.forceFlush()
    await provider.shutdown()
  })(count)
})

const programs: Record<string, Effect.Effect<unknown, unknown>> = {
  step: tracked,
  span: spans,
  restore: replay(false),
  replay: replay(true)
}

Effect.runPromise(programs[variant]!).catch((error) => {
  console.error(error)
  process.exit(1)
})
