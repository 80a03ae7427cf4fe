/**
 * `Telemetry.layer` under `@effect/opentelemetry`: runs, agents and steps exported as OpenTelemetry
 * spans with the GenAI attributes, nested run → agent → step, replayed steps marked, failed steps
 * in error; without the layer multirun makes no span at all.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { assert, describe, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { AgentContext, withAgent } from "../src/AgentContext.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, withRun } from "../src/RunContext.js"
import { step } from "../src/Step.js"
import { StepContext } from "../src/StepContext.js"
import * as Telemetry from "../src/Telemetry.js"

/** An OpenTelemetry SDK that keeps finished spans in memory; read them before the layer closes. */
const otel = () => {
  const exporter = new InMemorySpanExporter()
  const layer = NodeSdk.layer(() => ({
    resource: { serviceName: "multirun-test" },
    spanProcessor: new SimpleSpanProcessor(exporter)
  }))
  return { exporter, layer }
}

/** Two agents, an llm_call with usage and model, a tool_call, a failing step, a step driven by hand, a default-agent step, then a restore and the first agent again, replayed. */
const crew = (executions: { plan: number; search: number }) =>
  Effect.gen(function*() {
    const run = yield* RunContext
    const planner = withAgent("planner")(Effect.gen(function*() {
      const plan = yield* Effect.sync(() => ++executions.plan).pipe(
        Effect.as("go to Paris"),
        step("plan", {
          kind: "llm_call",
          input: { model: "gpt-4o-mini", prompt: "plan the trip" },
          usage: () => ({
            inputTokens: 120,
            outputTokens: 30,
            cachedInputTokens: 20,
            costUsd: 0.0012,
            model: "gpt-4o-mini-2024-07-18"
          })
        })
      )
      const found = yield* Effect.sync(() => ++executions.search).pipe(
        Effect.as(["louvre", "orsay"]),
        Effect.withSpan("http.search"),
        step("search", { kind: "tool_call", input: { query: "paris" } })
      )
      return { plan, found }
    }))
    const first = yield* planner
    const checkpoint = yield* run.checkpoint("after-planner")

    yield* withAgent("writer")(Effect.gen(function*() {
      yield* Effect.gen(function*() {
        const ctx = yield* StepContext
        yield* ctx.addUsage({ inputTokens: 50, outputTokens: 200, costUsd: null, model: "claude-sonnet-4" })
        return "a draft"
      }).pipe(step("draft", { kind: "llm_call", input: { prompt: "write it" } }))
      const invalid = yield* Effect.fail(new Error("too long")).pipe(step("validate", { input: { n: 1 } }), Effect.flip)
      assert.strictEqual(invalid.message, "too long")
      // after a step (a failed one here) the agent's span is the current one again
      yield* Effect.void.pipe(Effect.withSpan("writer.after"))
      const agent = yield* AgentContext
      const review = yield* agent.startStep({ name: "review", kind: "custom", input: { round: 1 } })
      yield* review.complete("ok", { tokensUsed: 5 })
    }))
    yield* Effect.succeed(3).pipe(step("summarize", { kind: "retrieval", input: { k: 3 } }))

    yield* run.restoreFromCheckpoint(checkpoint.id)
    const again = yield* planner
    assert.deepStrictEqual(again, first)
    return run.runId
  })

const byName = (spans: ReadonlyArray<ReadableSpan>, name: string): Array<ReadableSpan> => spans.filter((s) => s.name === name)

const one = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = byName(spans, name)
  assert.strictEqual(found.length, 1, `one span named ${name}`)
  return found[0]!
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId
const idOf = (span: ReadableSpan): string => span.spanContext().spanId

describe("Telemetry", () => {
  it.effect("runs, agents and steps become nested spans with GenAI attributes; replayed steps say so", () => {
    const { exporter, layer } = otel()
    const executions = { plan: 0, search: 0 }
    return Effect.gen(function*() {
      const runId = yield* withRun("trip")(crew(executions)).pipe(Effect.withSpan("test.root"))
      const spans = [...exporter.getFinishedSpans()]
      const client = yield* MultiRunClient
      const agents = yield* client.listAgents(runId)
      const steps = yield* client.listSteps(runId)
      return { runId, spans, agents, steps }
    }).pipe(
      Effect.provide(Layer.mergeAll(LocalLayer, Telemetry.layer, layer)),
      Effect.map(({ agents, runId, spans, steps }) => {
        // the planner's bodies ran once: the second time was replay
        assert.deepStrictEqual(executions, { plan: 1, search: 1 })
        assert.deepStrictEqual(spans.map((s) => s.name).sort(), [
          "chat",
          "chat gpt-4o-mini",
          "chat gpt-4o-mini",
          "execute_tool search",
          "execute_tool search",
          "http.search",
          "invoke_agent default",
          "invoke_agent planner",
          "invoke_agent planner",
          "invoke_agent writer",
          "multirun.run trip",
          "step review",
          "step summarize",
          "step validate",
          "test.root",
          "writer.after"
        ])

        // run → agents → steps, under the program's own span; a user span in a step body nests under it
        const root = one(spans, "test.root")
        const run = one(spans, "multirun.run trip")
        assert.strictEqual(parentOf(run), idOf(root))
        assert.deepStrictEqual(run.attributes["multirun.run.id"], runId)
        // the run's totals at its end: its executed steps, over the restore (replay adds nothing)
        const executed = steps.filter((s) => !s.replayed)
        assert.deepStrictEqual(
          [run.attributes["multirun.step_count"], run.attributes["multirun.tokens_used"]],
          [executed.length, executed.reduce((sum, s) => sum + s.tokensUsed, 0)]
        )
        // its known cost, and the steps of unknown cost counted (the draft's model has no price)
        assert.deepStrictEqual(
          [run.attributes["multirun.cost_usd"], run.attributes["multirun.unpriced_steps"]],
          [0.0012, executed.filter((s) => s.costUsd === null).length]
        )
        assert.include(executed.filter((s) => s.costUsd === null).map((s) => s.name), "draft")
        // replayed calls have spans but no step records
        assert.deepStrictEqual([executed.length, steps.length], [6, 6])
        assert.strictEqual(run.status.code, SpanStatusCode.OK)
        // spans are exported as they end: the first planner before the replayed one
        const [planner, replanner] = byName(spans, "invoke_agent planner")
        const writer = one(spans, "invoke_agent writer")
        const fallback = one(spans, "invoke_agent default")
        for (const agent of [planner!, replanner!, writer, fallback]) assert.strictEqual(parentOf(agent), idOf(run))
        const plannerRecord = agents.find((a) => a.name === "planner")!
        assert.deepStrictEqual(planner!.attributes, {
          "gen_ai.operation.name": "invoke_agent",
          "gen_ai.agent.name": "planner",
          "gen_ai.agent.id": plannerRecord.id,
          "multirun.run.id": runId,
          "multirun.agent.default": false,
          "multirun.step_count": 2,
          "multirun.usage.input_tokens": 120,
          "multirun.usage.output_tokens": 30,
          "multirun.tokens_used": 150,
          "multirun.cost_usd": 0.0012,
          "multirun.latency_ms": 0
        })
        // after the restore the planner takes over its checkpointed id
        assert.strictEqual(replanner!.attributes["gen_ai.agent.id"], plannerRecord.id)
        assert.strictEqual(fallback.attributes["multirun.agent.default"], true)

        const [chat, replayedChat] = byName(spans, "chat gpt-4o-mini")
        const [tool, replayedTool] = byName(spans, "execute_tool search")
        assert.deepStrictEqual([parentOf(chat!), parentOf(tool!)], [idOf(planner!), idOf(planner!)])
        assert.deepStrictEqual([parentOf(replayedChat!), parentOf(replayedTool!)], [idOf(replanner!), idOf(replanner!)])
        assert.strictEqual(parentOf(one(spans, "http.search")), idOf(tool!))
        for (const name of ["chat", "step validate", "writer.after", "step review"]) {
          assert.strictEqual(parentOf(one(spans, name)), idOf(writer), name)
        }
        assert.strictEqual(parentOf(one(spans, "step summarize")), idOf(fallback))

        // the llm_call: GenAI attributes, usage and model at the end (the reported model wins)
        const planRecord = steps.find((s) => s.name === "plan" && !s.replayed)!
        assert.strictEqual(chat!.kind, SpanKind.CLIENT)
        assert.deepStrictEqual(chat!.attributes, {
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": "gpt-4o-mini-2024-07-18",
          "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
          "gen_ai.usage.input_tokens": 120,
          "gen_ai.usage.output_tokens": 30,
          "gen_ai.usage.cache_read.input_tokens": 20,
          "multirun.run.id": runId,
          "multirun.agent.id": plannerRecord.id,
          "multirun.step.id": planRecord.id,
          "multirun.step.name": "plan",
          "multirun.step.seq": planRecord.seq,
          "multirun.step.kind": "llm_call",
          "multirun.step.input_hash": planRecord.inputHash,
          "multirun.step.replayed": false,
          "multirun.tokens_used": 150,
          "multirun.cost_usd": 0.0012
        })
        assert.strictEqual(chat!.status.code, SpanStatusCode.OK)

        // the replayed llm_call: the id, seq and hash of the record it returned, no tokens spent
        assert.deepStrictEqual(
          [
            replayedChat!.attributes["multirun.step.replayed"],
            replayedChat!.attributes["multirun.step.id"],
            replayedChat!.attributes["multirun.step.seq"],
            replayedChat!.attributes["multirun.step.input_hash"],
            replayedChat!.attributes["gen_ai.request.model"],
            replayedChat!.attributes["gen_ai.usage.input_tokens"],
            replayedChat!.attributes["gen_ai.usage.output_tokens"]
          ],
          [true, planRecord.id, planRecord.seq, planRecord.inputHash, "gpt-4o-mini", 0, 0]
        )
        assert.strictEqual(replayedTool!.attributes["multirun.step.replayed"], true)

        // the tool call
        assert.strictEqual(tool!.kind, SpanKind.INTERNAL)
        assert.deepStrictEqual(
          [tool!.attributes["gen_ai.operation.name"], tool!.attributes["gen_ai.tool.name"], tool!.attributes["multirun.step.kind"]],
          ["execute_tool", "search", "tool_call"]
        )

        // an llm_call whose model is only known from its usage: named `chat`, the model set at the end
        const draft = one(spans, "chat")
        assert.deepStrictEqual(
          [draft.attributes["gen_ai.request.model"], draft.attributes["gen_ai.usage.output_tokens"]],
          ["claude-sonnet-4", 200]
        )
        // its cost is unknown (null in the record): no cost attribute rather than a made-up 0
        assert.isNull(steps.find((s) => s.name === "draft")!.costUsd)
        assert.isUndefined(draft.attributes["multirun.cost_usd"])

        // a failed step: error status with the error's message
        const validate = one(spans, "step validate")
        assert.deepStrictEqual([validate.status.code, validate.status.message], [SpanStatusCode.ERROR, "too long"])
        assert.strictEqual(validate.attributes["multirun.step.kind"], "function")

        // a step driven by hand, and a step of the default agent
        const review = one(spans, "step review")
        assert.deepStrictEqual(
          [review.attributes["multirun.step.kind"], review.attributes["multirun.tokens_used"], review.status.code],
          ["custom", 5, SpanStatusCode.OK]
        )
        assert.strictEqual(one(spans, "step summarize").attributes["multirun.step.kind"], "retrieval")
      })
    )
  })

  it.effect("RunContext.layer: the program's steps nest under the run's span", () => {
    const { exporter, layer } = otel()
    return Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(step("one", { input: 1 }))
      yield* withAgent("solo")(Effect.succeed(2).pipe(step("two", { kind: "tool_call", input: 2 })))
    }).pipe(
      Effect.provide(RunContext.layer("layered")),
      Effect.zipRight(Effect.sync(() => [...exporter.getFinishedSpans()])),
      Effect.provide(Layer.mergeAll(LocalLayer, Telemetry.layer, layer)),
      Effect.map((spans) => {
        const run = one(spans, "multirun.run layered")
        const fallback = one(spans, "invoke_agent default")
        const solo = one(spans, "invoke_agent solo")
        assert.deepStrictEqual(
          [parentOf(fallback), parentOf(solo), parentOf(one(spans, "step one")), parentOf(one(spans, "execute_tool two"))],
          [idOf(run), idOf(run), idOf(fallback), idOf(solo)]
        )
      })
    )
  })

  it.effect("concurrent agents: each step under its own agent; an interrupted step's span ends interrupted", () => {
    const { exporter, layer } = otel()
    const agent = (name: string) =>
      withAgent(name)(Effect.forEach([1, 2, 3], (i) => Effect.yieldNow().pipe(Effect.as(i), step(`work ${i}`, { input: { name, i } })), {
        concurrency: "unbounded"
      }))
    return withRun("parallel")(Effect.gen(function*() {
      yield* Effect.all([agent("a"), agent("b"), agent("c")], { concurrency: "unbounded" })
      const started = yield* Deferred.make<void>()
      const stuck = yield* withAgent("stuck")(
        Deferred.succeed(started, undefined).pipe(Effect.zipRight(Effect.never), step("wait", { input: 0 }))
      ).pipe(Effect.fork)
      yield* Deferred.await(started)
      yield* Fiber.interrupt(stuck)
    })).pipe(
      Effect.zipRight(Effect.sync(() => [...exporter.getFinishedSpans()])),
      Effect.provide(Layer.mergeAll(LocalLayer, Telemetry.layer, layer)),
      Effect.map((spans) => {
        for (const name of ["a", "b", "c"]) {
          const owner = one(spans, `invoke_agent ${name}`)
          const children = spans.filter((s) => parentOf(s) === idOf(owner))
          assert.deepStrictEqual(children.map((s) => s.name).sort(), ["step work 1", "step work 2", "step work 3"])
          assert.deepStrictEqual(
            children.map((s) => (s.attributes["multirun.step.id"] as string).length > 0),
            [true, true, true]
          )
        }
        const wait = one(spans, "step wait")
        assert.strictEqual(parentOf(wait), idOf(one(spans, "invoke_agent stuck")))
        assert.strictEqual(wait.attributes["status.interrupted"], true)
        assert.strictEqual(one(spans, "invoke_agent stuck").attributes["status.interrupted"], true)
      })
    )
  })

  it.effect("without Telemetry.layer multirun makes no span", () => {
    const { exporter, layer } = otel()
    const executions = { plan: 0, search: 0 }
    return withRun("trip")(crew(executions)).pipe(
      Effect.withSpan("test.root"),
      Effect.zipRight(Effect.sync(() => exporter.getFinishedSpans().map((s) => s.name).sort())),
      Effect.provide(Layer.mergeAll(LocalLayer, layer)),
      Effect.map((names) => {
        // only the program's own spans: the tracer works, multirun adds nothing to it
        assert.deepStrictEqual(names, ["http.search", "test.root", "writer.after"])
        assert.deepStrictEqual(executions, { plan: 1, search: 1 })
      })
    )
  })

  it("genAi names a chat span from the input's model, or `chat` without one", () => {
    const facts = {
      runId: "r",
      agentId: "a",
      agentName: "agent",
      stepId: "s",
      name: "ask",
      kind: "llm_call",
      seq: 0,
      inputHash: "h",
      replayed: false
    } as unknown as Omit<Telemetry.StepFacts, "input">
    assert.strictEqual(Telemetry.genAi.step({ ...facts, input: { model: "o3", prompt: "p" } }).name, "chat o3")
    assert.strictEqual(Telemetry.genAi.step({ ...facts, input: { model: 42 } }).name, "chat")
    assert.strictEqual(Telemetry.genAi.step({ ...facts, input: ["o3"] }).name, "chat")
    assert.strictEqual(Telemetry.genAi.step({ ...facts, kind: "handoff", input: null }).name, "step ask")
  })
})
