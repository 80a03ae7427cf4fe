/**
 * The provider seam of `TrackedLanguageModel`: the user's `LanguageModel` called at the level of
 * `LanguageModel.make`'s provider functions (encoded parts in and out), the step input of a
 * call, and the usage read off the encoded response parts.
 */
import * as AiError from "@effect/ai/AiError"
import type * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Response from "@effect/ai/Response"
import * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import type { Usage } from "@multirun/core"
import * as HttpClient from "@effect/platform/HttpClient"
import { type Context, Effect, Exit, JSONSchema, type Option, ParseResult, Schema, Stream, Tracer } from "effect"
import type { PricingService } from "../Pricing.js"
import { plain } from "./json.js"

/** What a provider function of `LanguageModel.make` returns for one call. */
export type Parts = Array<Response.PartEncoded>

/** A toolkit holding the tools of a call, for decoding and encoding their parts; never handles. */
const toolkitOf = (tools: ReadonlyArray<Tool.Any>): Toolkit.WithHandler<any> => ({
  tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
  handle: (name) => Effect.dieMessage(`TrackedLanguageModel: tool call ${String(name)} resolved by the wrapped model`)
})

const malformed = (method: string, error: ParseResult.ParseError) =>
  AiError.MalformedOutput.fromParseError({ module: "TrackedLanguageModel", method, error })

/** The options of the wrapped model's own call: the same prompt, tools and choice, unresolved. */
const innerOptions = (options: LanguageModel.ProviderOptions, toolkit: Toolkit.WithHandler<any>) =>
  options.tools.length === 0
    ? { prompt: options.prompt }
    : { prompt: options.prompt, toolkit, toolChoice: options.toolChoice, disableToolCallResolution: true }

/** Calls the wrapped model for one provider-level `generateText` and encodes its parts. */
export const generate = (
  inner: LanguageModel.Service,
  options: LanguageModel.ProviderOptions
): Effect.Effect<Parts, AiError.AiError> => {
  const toolkit = toolkitOf(options.tools)
  const base = innerOptions(options, toolkit)
  const format = options.responseFormat
  const call: Effect.Effect<LanguageModel.GenerateTextResponse<any>, AiError.AiError> = format.type === "json"
    ? (inner.generateObject as any)({ ...base, schema: format.schema, objectName: format.objectName })
    : (inner.generateText as any)(base)
  const encode = Schema.encode(Schema.Array(Response.Part(toolkit)))
  return Effect.flatMap(call, (response) =>
    encode(response.content).pipe(
      Effect.map((parts) => plain(parts) as Parts),
      Effect.mapError((error) => malformed("generateText", error))
    ))
}

/** Calls the wrapped model for one provider-level `streamText` and encodes each part. */
export const stream = (
  inner: LanguageModel.Service,
  options: LanguageModel.ProviderOptions
): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> => {
  const toolkit = toolkitOf(options.tools)
  const parts: Stream.Stream<Response.StreamPart<any>, AiError.AiError> = (inner.streamText as any)(
    innerOptions(options, toolkit)
  )
  const encode = Schema.encode(Response.StreamPart(toolkit))
  return Stream.mapEffect(parts, (part) =>
    encode(part).pipe(
      Effect.map((encoded) => plain(encoded)),
      Effect.mapError((error) => malformed("streamText", error))
    ))
}

/** A schema as JSON Schema, or its description when it has none. */
const schemaJson = (schema: Schema.Schema.All): unknown => {
  try {
    return JSONSchema.make(schema as Schema.Schema<any, any, never>)
  } catch {
    return String(schema.ast)
  }
}

const toolJson = (tool: Tool.Any): unknown =>
  Tool.isProviderDefined(tool)
    ? { id: tool.id, args: (tool as unknown as Tool.AnyProviderDefined).args }
    : { description: Tool.getDescription(tool as any), parameters: schemaJson(tool.parametersSchema) }

/** The name a provider request gives a tool: `name`, or `function.name` (Chat Completions). */
const requestToolName = (tool: unknown): unknown =>
  (tool as { readonly name?: unknown } | null)?.name ?? (tool as { readonly function?: { readonly name?: unknown } } | null)?.function?.name

/**
 * A provider request with its `tools` keyed by name, as the call's own tools are, so the order of
 * a toolkit is no drift and a drift path names the tool; left as sent when names are missing or repeated.
 */
const requestByToolName = (request: unknown): unknown => {
  const tools = (request as { readonly tools?: unknown } | undefined)?.tools
  if (!Array.isArray(tools)) return request
  const names = tools.map(requestToolName)
  if (names.some((name) => typeof name !== "string") || new Set(names).size !== names.length) return request
  return { ...(request as object), tools: Object.fromEntries(tools.map((tool, i) => [names[i], tool])) }
}

/** Provider configuration in the context (`OpenAiLanguageModel.withConfigOverride` and the like). */
const providerConfig = (context: Context.Context<never>): Record<string, unknown> => {
  const config: Record<string, unknown> = {}
  for (const [key, value] of context.unsafeMap) {
    if (key.startsWith("@effect/ai-") && key.endsWith("LanguageModel/Config")) config[key] = value
  }
  return config
}

/** A span whose `gen_ai.usage.*` attributes are dropped; everything else goes to the span itself. */
const usageless = (span: Tracer.Span): Tracer.Span =>
  new Proxy(span, {
    get: (target, key) => {
      if (key === "attribute") {
        return (name: string, value: unknown) => name.startsWith("gen_ai.usage.") ? undefined : target.attribute(name, value)
      }
      const value = Reflect.get(target, key, target)
      return typeof value === "function" ? value.bind(target) : value
    }
  })

/**
 * Runs a call of the wrapped model with its spans keeping no `gen_ai.usage.*` attributes: the
 * step's `chat` span carries the call's usage, so a backend that sums `gen_ai.usage.*` over spans
 * counts each token once.
 */
export const withoutProviderUsage = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    Effect.withTracer(
      self,
      Tracer.make({
        span: (...args) => usageless(tracer.span(...args)),
        context: (f, fiber) => tracer.context(f, fiber)
      })
    )
  )

/** A span that goes nowhere: the probe's spans are not the user's telemetry. */
const silentSpan = (
  name: string,
  parent: Option.Option<Tracer.AnySpan>,
  context: Context.Context<never>,
  links: ReadonlyArray<Tracer.SpanLink>,
  startTime: bigint,
  kind: Tracer.SpanKind
): Tracer.Span => ({
  _tag: "Span",
  name,
  spanId: "probe",
  traceId: "probe",
  parent,
  context,
  status: { _tag: "Started", startTime },
  attributes: new Map(),
  links,
  sampled: false,
  kind,
  end: () => {},
  attribute: () => {},
  event: () => {},
  addLinks: () => {}
})

const silentTracer = Tracer.make({ span: silentSpan, context: (f) => f() })

/** Thrown by the probe's request hook to stop the call before anything is sent. */
const stopped = Symbol("@multirun/ai/probeStopped")

/**
 * The JSON body the wrapped model would send for this call (model id, the layer's own settings such
 * as `temperature`, overrides, messages, tools), or `undefined` when it sends none over an
 * `@effect/platform` `HttpClient`. The wrapped model builds its request as for a real call; the
 * request is read in `HttpClient`'s tracing hook (evaluated before each send, hence tracing is
 * switched on, into a silent tracer) and the call is stopped there, so nothing reaches the provider.
 */
const providerRequest = (
  inner: LanguageModel.Service,
  options: LanguageModel.ProviderOptions,
  streaming: boolean,
  probe: Probe
): Effect.Effect<unknown> => {
  let body: unknown
  let reached = false
  const call = streaming ? Stream.runDrain(stream(inner, options)) : generate(inner, options)
  return call.pipe(
    Effect.locally(HttpClient.currentTracerDisabledWhen, (request) => {
      reached = true
      const sent = request.body
      if (sent._tag === "Uint8Array") {
        try {
          body = JSON.parse(new TextDecoder().decode(sent.body))
        } catch {
          // not JSON: nothing to key on
        }
      }
      throw stopped
    }),
    Effect.withTracerEnabled(true),
    Effect.withTracer(silentTracer),
    Effect.exit,
    Effect.flatMap((exit) => {
      // a call that ended well without sending anything through `HttpClient` ran on its own
      if (reached || Exit.isFailure(exit) || !probe.on) return Effect.succeed(body)
      // the model sends nothing through `HttpClient`: the probe ran the call itself; never again
      probe.on = false
      return Effect.as(
        Effect.logWarning(
          "multirun: this model does not send its requests through @effect/platform's HttpClient, so its " +
            "provider request cannot be read without calling it; `providerRequest` is now off for it (give " +
            "`providerRequest: false` to TrackedLanguageModel for such a model)"
        ),
        undefined
      )
    })
  )
}

/**
 * Whether calls of a tracked model read their provider request first ({@link providerRequest});
 * turned off for good once a probe finds the model sends nothing through `HttpClient`.
 */
export interface Probe {
  on: boolean
}

/**
 * The step input of a call: prompt, tools and options, encoded, and when asked the provider request
 * the wrapped model would send (`request`: the model id and every setting, from the layer's
 * constructor or an override) with its model id apart (`model`, which also names the `chat` span);
 * `undefined` fields dropped.
 */
export const callInput = (
  inner: LanguageModel.Service,
  options: LanguageModel.ProviderOptions,
  tracking: { readonly provider?: string | undefined; readonly probe: Probe },
  streaming: boolean
): Effect.Effect<unknown, AiError.AiError> =>
  Effect.gen(function*() {
    const prompt = yield* Effect.mapError(
      Schema.encode(Prompt.Prompt)(options.prompt),
      (error) =>
        new AiError.MalformedInput({
          module: "TrackedLanguageModel",
          method: "input",
          description: `the prompt does not encode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
          cause: error
        })
    )
    const context = yield* Effect.context<never>()
    const config = providerConfig(context)
    const format = options.responseFormat
    const request = tracking.probe.on ? yield* providerRequest(inner, options, streaming, tracking.probe) : undefined
    const model = (request as { readonly model?: unknown } | undefined)?.model
    return plain({
      provider: tracking.provider,
      model: typeof model === "string" ? model : undefined,
      prompt,
      tools: Object.fromEntries(options.tools.map((tool) => [tool.name, toolJson(tool)])),
      toolChoice: options.tools.length === 0 ? undefined : options.toolChoice,
      responseFormat: format.type === "json"
        ? { type: "json", objectName: format.objectName, schema: schemaJson(format.schema) }
        : format,
      config: Object.keys(config).length === 0 ? undefined : config,
      request: requestByToolName(request)
    })
  })

/** The model id the provider configuration of the context names, if any. */
export const configuredModel = (context: Context.Context<never>): string | undefined => {
  for (const value of Object.values(providerConfig(context))) {
    const model = (value as { readonly model?: unknown } | undefined)?.model
    if (typeof model === "string") return model
  }
  return undefined
}

type AnyEncodedPart = Response.PartEncoded | Response.StreamPartEncoded

/**
 * A finish part's usage in core's meaning, where cached input tokens are a part of the input tokens:
 * Anthropic (its finish part carries `metadata.anthropic`) counts cache reads apart from its
 * `input_tokens`, so they are added to the input tokens and the total.
 */
const coreUsage = (finish: Response.FinishPartEncoded): Response.FinishPartEncoded["usage"] => {
  const usage = finish.usage
  const cached = usage.cachedInputTokens ?? 0
  if (cached <= 0 || finish.metadata?.["anthropic"] === undefined) return usage
  const inputTokens = (usage.inputTokens ?? 0) + cached
  return { ...usage, inputTokens, totalTokens: inputTokens + (usage.outputTokens ?? 0) }
}

/** Usage of a call read off its encoded parts, with `tokensUsed` as the total and cost priced. */
export const usageOf = (
  parts: ReadonlyArray<AnyEncodedPart>,
  fallbackModel: string | undefined,
  pricing: PricingService
): Effect.Effect<Usage> => {
  let model: string | undefined
  let finish: Response.FinishPartEncoded | undefined
  for (const part of parts) {
    if (part.type === "response-metadata" && part.modelId !== undefined && model === undefined) model = part.modelId
    if (part.type === "finish") finish = part
  }
  model ??= fallbackModel
  if (finish === undefined) return Effect.succeed(plain({ model, costUsd: null }))
  const counts = coreUsage(finish)
  const tokensUsed = counts.totalTokens ?? (counts.inputTokens ?? 0) + (counts.outputTokens ?? 0)
  return Effect.map(pricing.cost(model, counts), (costUsd) =>
    plain({
      inputTokens: counts.inputTokens,
      outputTokens: counts.outputTokens,
      cachedInputTokens: counts.cachedInputTokens,
      reasoningTokens: counts.reasoningTokens,
      tokensUsed,
      costUsd,
      model
    }))
}
