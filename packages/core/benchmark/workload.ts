/**
 * The workload the core benchmarks measure, shared by `run.ts` (wall time) and `hotpath.ts`
 * (instruction counts): a model-call-like body, the same body as `step()`s, and the same body
 * under an OpenTelemetry span with the attributes a step records.
 */
import type { BasicTracerProvider } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { step } from "@multirun/core"

/** The work of one call: a fixed answer and usage. */
export const body = (i: number) => Effect.succeed({ text: `answer ${i}`, tokens: 12 })

/** `count` calls as `llm_call` steps of the current agent. */
export const steps = (count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      yield* body(i).pipe(step("llm", { kind: "llm_call", input: { prompt: "p", i }, usage: (r) => ({ tokensUsed: r.tokens }) }))
    }
  })

/** `count` calls, each in a span of `tracer` with the step's attributes; `flush` ends the batch. */
export const spansWith = (tracer: ReturnType<BasicTracerProvider["getTracer"]>, flush: () => Promise<void>) =>
(count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      const span = tracer.startSpan("llm", {
        attributes: { "step.kind": "llm_call", "step.input": JSON.stringify({ prompt: "p", i }) }
      })
      const result = yield* body(i)
      span.setAttribute("step.tokens", result.tokens)
      span.end()
    }
    yield* Effect.promise(flush)
  })
