/**
 * Tracing of runs, agents and steps as Effect spans, opt-in: provide `Telemetry.layer` and every
 * run, agent and step becomes a span of Effect's own tracer, which `@effect/opentelemetry`
 * (`NodeSdk.layer`, `OtlpTracer.layer`) exports through OTLP. Core depends on no OpenTelemetry
 * package: without an OpenTelemetry layer the spans stay in Effect's native tracer.
 *
 * The spans follow the OpenTelemetry GenAI semantic conventions:
 *
 * | what | span name | attributes |
 * |---|---|---|
 * | run | `multirun.run {name}` | `multirun.run.id`, `multirun.run.name`, totals at the end |
 * | agent | `invoke_agent {name}` | `gen_ai.operation.name`, `gen_ai.agent.name`, `gen_ai.agent.id`, totals at the end |
 * | `llm_call` step | `chat {model}` | `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.*` at the end |
 * | `tool_call` step | `execute_tool {name}` | `gen_ai.operation.name`, `gen_ai.tool.name` |
 * | other steps | `step {name}` | `multirun.step.kind` |
 *
 * Every step span also carries `multirun.run.id`, `multirun.step.id`, `multirun.step.name`,
 * `multirun.step.seq`, `multirun.step.kind`, `multirun.step.input_hash`,
 * `multirun.step.replayed` and, at the end, `multirun.tokens_used` and `multirun.cost_usd`. An
 * unknown cost is left out (never 0); a run's or an agent's totals with steps of unknown cost
 * count them in `multirun.unpriced_steps`.
 *
 * A `chat` span is named when it opens, before the step has run: from the `model` field of the
 * step's input (`chat gpt-4o`), or plain `chat` when the input has none. The model a provider
 * reports in the step's usage is only known at the end: it becomes `gen_ai.request.model` (and
 * `gen_ai.response.model`) then, and the name stays as opened.
 *
 * Agent and run totals are `multirun.*` attributes, not `gen_ai.usage.*`, so a backend that adds
 * up `gen_ai.usage.*` counts each token once, on its `chat` span.
 *
 * @since 0.2.0
 */
import { Context, Layer } from "effect"
import type { Tracer } from "effect"
import type { AgentId, CheckpointId, RunId, StepId } from "./Ids.js"
import type { Totals } from "./Model.js"
import type { StepKind } from "./StepRecord.js"

/**
 * Span attributes, by name.
 *
 * @since 0.2.0
 */
export type Attributes = Readonly<Record<string, unknown>>

/**
 * A span to open: its name, kind and attributes at the start.
 *
 * @since 0.2.0
 */
export interface SpanSpec {
  readonly name: string
  readonly kind?: Tracer.SpanKind | undefined
  readonly attributes: Attributes
}

/**
 * What is known of a run when its span opens.
 *
 * @since 0.2.0
 */
export interface RunFacts {
  readonly runId: RunId
  readonly name: string
  /** The run continues a stored one (`resume`). */
  readonly resumed: boolean
  readonly forkedFrom: CheckpointId | null
}

/**
 * What is known of an agent when its span opens.
 *
 * @since 0.2.0
 */
export interface AgentFacts {
  readonly runId: RunId
  readonly agentId: AgentId
  readonly name: string
  readonly isDefault: boolean
}

/**
 * What is known of a step when its span opens. `input` is the step's input as given (before
 * its `inputSchema`), for attributes such as the model.
 *
 * @since 0.2.0
 */
export interface StepFacts {
  readonly runId: RunId
  readonly agentId: AgentId
  readonly agentName: string
  readonly stepId: StepId
  readonly name: string
  readonly kind: StepKind
  readonly seq: number
  readonly inputHash: string
  readonly replayed: boolean
  readonly input: unknown
}

/**
 * What a step recorded when it ended: its usage (zero for a replayed step, which spends
 * nothing) and the model the provider reported, if any.
 *
 * @since 0.2.0
 */
export interface StepUsage {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens: number
  readonly reasoningTokens: number
  readonly tokensUsed: number
  /** `null` when a usage report said the cost is unknown. */
  readonly costUsd: number | null
  readonly model: string | null
}

/**
 * How runs, agents and steps become spans: their names and attributes. The runtime opens, nests
 * and ends the spans (a failed step's span ends with its error); this service only describes
 * them, so another naming scheme is another value of this interface.
 *
 * @since 0.2.0
 */
export interface TelemetryService {
  readonly run: (run: RunFacts) => SpanSpec
  /** Attributes set when the run ends, from its totals. */
  readonly runEnd: (run: RunFacts, totals: Totals) => Attributes
  readonly agent: (agent: AgentFacts) => SpanSpec
  /** Attributes set when the agent ends, from its totals. */
  readonly agentEnd: (agent: AgentFacts, totals: Totals) => Attributes
  readonly step: (step: StepFacts) => SpanSpec
  /** Attributes set when the step ends, from its recorded usage. */
  readonly stepEnd: (step: StepFacts, usage: StepUsage) => Attributes
}

/**
 * The telemetry tag. The runtime looks it up once per run: without it no span is made and a
 * step costs what it costs untraced.
 *
 * @since 0.2.0
 */
export class Telemetry extends Context.Tag("@multirun/core/Telemetry")<Telemetry, TelemetryService>() {}

/** The `model` field of a step input, when the input is an object that has a string one. */
const inputModel = (input: unknown): string | undefined => {
  const model = typeof input === "object" && input !== null ? (input as { readonly model?: unknown }).model : undefined
  return typeof model === "string" ? model : undefined
}

/** The totals as attributes; an unknown cost is left out, and steps of unknown cost are counted. */
const totalsAttributes = (totals: Totals): Attributes => ({
  "multirun.step_count": totals.stepCount,
  "multirun.usage.input_tokens": totals.inputTokens,
  "multirun.usage.output_tokens": totals.outputTokens,
  "multirun.tokens_used": totals.tokensUsed,
  ...(totals.costUsd === null ? {} : { "multirun.cost_usd": totals.costUsd }),
  ...(totals.unpricedSteps === 0 ? {} : { "multirun.unpriced_steps": totals.unpricedSteps }),
  "multirun.latency_ms": totals.latencyMs
})

/**
 * The OpenTelemetry GenAI conventions (see the module documentation).
 *
 * @since 0.2.0
 */
export const genAi: TelemetryService = {
  run: (run) => ({
    name: `multirun.run ${run.name}`,
    attributes: {
      "multirun.run.id": run.runId,
      "multirun.run.name": run.name,
      "multirun.run.resumed": run.resumed,
      ...(run.forkedFrom === null ? {} : { "multirun.run.forked_from": run.forkedFrom })
    }
  }),
  runEnd: (_, totals) => totalsAttributes(totals),
  agent: (agent) => ({
    name: `invoke_agent ${agent.name}`,
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": agent.name,
      "gen_ai.agent.id": agent.agentId,
      "multirun.run.id": agent.runId,
      "multirun.agent.default": agent.isDefault
    }
  }),
  agentEnd: (_, totals) => totalsAttributes(totals),
  step: (step) => {
    const attributes: Record<string, unknown> = {}
    let name: string
    let kind: Tracer.SpanKind = "internal"
    if (step.kind === "llm_call") {
      const model = inputModel(step.input)
      name = model === undefined ? "chat" : `chat ${model}`
      kind = "client"
      attributes["gen_ai.operation.name"] = "chat"
      if (model !== undefined) attributes["gen_ai.request.model"] = model
    } else if (step.kind === "tool_call") {
      name = `execute_tool ${step.name}`
      attributes["gen_ai.operation.name"] = "execute_tool"
      attributes["gen_ai.tool.name"] = step.name
    } else {
      name = `step ${step.name}`
    }
    attributes["multirun.run.id"] = step.runId
    attributes["multirun.agent.id"] = step.agentId
    attributes["multirun.step.id"] = step.stepId
    attributes["multirun.step.name"] = step.name
    attributes["multirun.step.seq"] = step.seq
    attributes["multirun.step.kind"] = step.kind
    attributes["multirun.step.input_hash"] = step.inputHash
    attributes["multirun.step.replayed"] = step.replayed
    return { name, kind, attributes }
  },
  stepEnd: (step, usage) => {
    const attributes: Record<string, unknown> = {}
    if (step.kind === "llm_call") {
      const model = usage.model ?? inputModel(step.input)
      if (model !== undefined) attributes["gen_ai.request.model"] = model
      if (usage.model !== null) attributes["gen_ai.response.model"] = usage.model
      attributes["gen_ai.usage.input_tokens"] = usage.inputTokens
      attributes["gen_ai.usage.output_tokens"] = usage.outputTokens
      if (usage.cachedInputTokens > 0) attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cachedInputTokens
      if (usage.reasoningTokens > 0) attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoningTokens
    }
    attributes["multirun.tokens_used"] = usage.tokensUsed
    if (usage.costUsd !== null) attributes["multirun.cost_usd"] = usage.costUsd
    return attributes
  }
}

/**
 * Turns runs, agents and steps into spans with the GenAI conventions ({@link genAi}). Add an
 * exporter, e.g. `NodeSdk.layer(...)` from `@effect/opentelemetry`, to send them somewhere.
 *
 * @example
 * program.pipe(Effect.provide(Telemetry.layer), Effect.provide(NodeSdk.layer(() => ({ spanProcessor }))))
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, genAi)

/**
 * Turns runs, agents and steps into spans named and annotated by `service`.
 *
 * @since 0.2.0
 */
export const layerWith = (service: TelemetryService): Layer.Layer<Telemetry> => Layer.succeed(Telemetry, service)
