/**
 * A `LanguageModel` that records every call as an `llm_call` step of the current multirun run
 * and replays recorded calls on resume, around the `LanguageModel` you already provide.
 *
 * @since 0.2.0
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as AiModel from "@effect/ai/Model"
import type * as Response from "@effect/ai/Response"
import { RunContext, type RunContextService, step, StepContext } from "@multirun/core"
import { Chunk, Effect, FiberRef, Layer, Mailbox, Option, Stream } from "effect"
import { dual } from "effect/Function"
import { isRecordingError, type RecordingError } from "./internal/errors.js"
import * as internal from "./internal/model.js"
import { defaultTable, make as makePricing, Pricing, warnIfStale } from "./Pricing.js"

/**
 * Options of a tracked model.
 *
 * - `model`: the model id recorded and priced when the response names none (providers usually
 *   name it; the id from the provider configuration in the context comes next).
 * - `provider`: the provider name put in each call's input (the layers read it from
 *   `@effect/ai`'s `Model.ProviderName` when the model comes from `OpenAiLanguageModel.model`
 *   and the like), so switching providers is seen as drift on replay.
 * - `checkpoint`: `"afterEachCall"` checkpoints the run after every executed (not replayed)
 *   call, so a resumed run replays every call made before a crash with no checkpoint code in
 *   the program; `"never"` (default) leaves checkpoints to the program.
 * - `providerRequest`: put in each call's input the JSON body the wrapped model would send
 *   (`request`: the model id, the settings the model layer was built with, overrides), read by
 *   letting the model build it and stopping the call in `@effect/platform`'s `HttpClient` before
 *   it is sent; so a switch of model or setting is drift and two models never share a replay
 *   queue. Default: on when the model comes from an `@effect/ai` provider (`Model.ProviderName`
 *   where the layer is built: `OpenAiLanguageModel.model(...)` and the like, which all send
 *   through `HttpClient`), off for {@link make}. Leave it off for a model that does not send
 *   through `HttpClient`: its first probe runs the call itself, then probing turns itself off for
 *   that model, with one warning.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly model?: string | undefined
  readonly provider?: string | undefined
  readonly checkpoint?: "never" | "afterEachCall" | undefined
  /** @since 0.3.0 */
  readonly providerRequest?: boolean | undefined
}

const stepNameRef = FiberRef.unsafeMake<Option.Option<string>>(Option.none())

/**
 * Names the steps of the model calls made by `self` (default: `generateText`, `generateObject`
 * or `streamText`), e.g. `"plan"` or `"summarize"`, to read a run more easily.
 *
 * @since 0.2.0
 */
export const withStepName: {
  (name: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, name: string): Effect.Effect<A, E, R> =>
    Effect.locally(self, stepNameRef, Option.some(name))
)

/**
 * A recording failure (backend, serialization, drift under `onDrift: "fail"`, a call after its run
 * ended) as an `AiError`; a user's own errors pass through whatever their tag.
 */
const asAiError = (method: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.catchIf(self, isRecordingError, (error) =>
    Effect.fail(
      new AiError.UnknownError({
        module: "TrackedLanguageModel",
        method,
        description: `multirun could not record or replay the call: ${error.message}`,
        cause: error
      })
    )) as Effect.Effect<A, Exclude<E, RecordingError> | AiError.AiError, R>

const hasRun = Effect.map(Effect.serviceOption(RunContext), Option.isSome)

/**
 * Wraps a `LanguageModel` service. Inside a run (a `RunContext` in the context) each call is a
 * step: `generateText`, `generateObject` and `streamText` record the call's input (prompt,
 * tools, options), its encoded response parts, usage and cost (the `Pricing` where the model is
 * built, else the one in the context of the call, else the shipped table; a call cut short after it
 * reached the provider costs `null`). On resume a recorded call returns (or streams) the recorded parts
 * without calling the provider; tool calls are resolved again through the toolkit, so tool
 * handlers tracked with `TrackedToolkit` replay as their own steps. Outside a run, calls go to
 * the wrapped model untouched.
 *
 * @since 0.2.0
 */
// one closure over the wrapped model, the pricing, the probe switch and the warned model ids that every method shares
export const make = (inner: LanguageModel.Service, options: Options = {}): Effect.Effect<LanguageModel.Service> =>
  Effect.gen(function*() {
    // the model's own `Pricing` (where it is built, e.g. `Layer.provide(Pricing.layer(table))` on its
    // layer) wins over one in the context of a call, which wins over the shipped table
    const own = yield* Effect.serviceOption(Pricing)
    const fallbackPricing = Option.isSome(own)
      ? own.value
      : yield* Effect.zipRight(warnIfStale(defaultTable), makePricing(defaultTable))
    const pricing = Option.isSome(own)
      ? Effect.succeed(own.value)
      : Effect.map(Effect.serviceOption(Pricing), Option.getOrElse(() => fallbackPricing))
    const tracking = { provider: options.provider, probe: { on: options.providerRequest === true } }

    const stepName = (format: LanguageModel.ProviderOptions["responseFormat"], streaming: boolean) =>
      Effect.map(
        FiberRef.get(stepNameRef),
        Option.getOrElse(() => streaming ? "streamText" : format.type === "json" ? "generateObject" : "generateText")
      )

    /** Reads usage off the parts and adds it to the running step. */
    const recordUsage = (parts: ReadonlyArray<Response.PartEncoded | Response.StreamPartEncoded>) =>
      Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        const usage = yield* internal.usageOf(
          parts,
          options.model ?? internal.configuredModel(context),
          yield* pricing
        )
        yield* (yield* StepContext).addUsage(usage)
      })

    /**
     * A call cut short (`Stream.take`, a timeout) may have reached the provider, which bills it: its
     * cost is unknown (`null`), not 0.
     */
    const costUnknownIfCut = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.onInterrupt(self, () => Effect.flatMap(StepContext, (context) => context.addUsage({ costUsd: null })))

    /** After an executed call, the checkpoint the options ask for. */
    const checkpointAfter = (run: RunContextService, name: string, executed: boolean) =>
      executed && options.checkpoint === "afterEachCall" ? Effect.asVoid(run.checkpoint(`after ${name}`)) : Effect.void

    const generateText = (providerOptions: LanguageModel.ProviderOptions) =>
      Effect.gen(function*() {
        const run = yield* Effect.serviceOption(RunContext)
        if (Option.isNone(run)) return yield* internal.generate(inner, providerOptions)
        const input = yield* internal.callInput(inner, providerOptions, tracking, false)
        const name = yield* stepName(providerOptions.responseFormat, false)
        let executed = false
        return yield* Effect.suspend(() => {
          executed = true
          return internal.withoutProviderUsage(internal.generate(inner, providerOptions))
        }).pipe(
          Effect.tap(recordUsage),
          costUnknownIfCut,
          step(name, { kind: "llm_call", input }),
          Effect.tap(() => checkpointAfter(run.value, name, executed)),
          asAiError(name),
          Effect.provideService(RunContext, run.value)
        ) as Effect.Effect<internal.Parts, AiError.AiError>
      })

    const streamText = (providerOptions: LanguageModel.ProviderOptions) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const run = yield* Effect.serviceOption(RunContext)
        if (Option.isNone(run)) return internal.stream(inner, providerOptions)
        const input = yield* internal.callInput(inner, providerOptions, tracking, true)
        const name = yield* stepName(providerOptions.responseFormat, true)
        const mailbox = yield* Mailbox.make<Response.StreamPartEncoded, AiError.AiError>()
        // executed: the parts reach the consumer as they arrive and are recorded when the stream
        // ends; replayed: the step returns the recorded parts, emitted in order
        let executed = false
        const live = Effect.suspend(() => {
          executed = true
          return internal.stream(inner, providerOptions).pipe(
            Stream.tap((part) => mailbox.offer(part)),
            Stream.runCollect,
            internal.withoutProviderUsage,
            Effect.map(Chunk.toArray),
            Effect.tap(recordUsage),
            costUnknownIfCut
          )
        })
        yield* live.pipe(
          step(name, { kind: "llm_call", input }),
          Effect.tap(() => checkpointAfter(run.value, name, executed)),
          asAiError(name),
          Effect.flatMap((parts) => executed ? Effect.void : mailbox.offerAll(parts)),
          Effect.provideService(RunContext, run.value),
          Mailbox.into(mailbox),
          Effect.forkScoped
        )
        return Mailbox.toStream(mailbox)
      }))

    const tracked = yield* LanguageModel.make({ generateText, streamText })

    return {
      generateText: (callOptions: any) =>
        Effect.flatMap(hasRun, (yes) => yes ? tracked.generateText(callOptions) : inner.generateText(callOptions)),
      generateObject: (callOptions: any) =>
        Effect.flatMap(hasRun, (yes) => yes ? tracked.generateObject(callOptions) : inner.generateObject(callOptions)),
      streamText: (callOptions: any) =>
        Stream.unwrap(Effect.map(hasRun, (yes) => yes ? tracked.streamText(callOptions) : inner.streamText(callOptions)))
    } as LanguageModel.Service
  })

/**
 * Replaces the `LanguageModel` of the context with a tracked one (see {@link make}); reads the
 * provider name from `Model.ProviderName` when present, and then keys calls on the provider
 * request (see {@link Options}).
 *
 * @example
 * program.pipe(
 *   Effect.provide(TrackedLanguageModel.layer),
 *   Effect.provide(OpenAiLanguageModel.model("gpt-4o"))
 * )
 *
 * @since 0.2.0
 */
export const layerWith = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const inner = yield* LanguageModel.LanguageModel
      const providerName = Option.getOrUndefined(yield* Effect.serviceOption(AiModel.ProviderName))
      return yield* make(inner, {
        ...options,
        provider: options.provider ?? providerName,
        providerRequest: options.providerRequest ?? providerName !== undefined
      })
    })
  )

/**
 * {@link layerWith} with default options.
 *
 * @since 0.2.0
 */
export const layer: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> = layerWith()

/**
 * A tracked version of an @effect/ai `Model` (`OpenAiLanguageModel.model("gpt-4o")` and the
 * like): the same provider and services, with its `LanguageModel` tracked.
 *
 * @since 0.2.0
 */
export const model = <Provider extends string, Provides, Requires>(
  self: AiModel.Model<Provider, Provides, Requires>,
  options: Options = {}
): AiModel.Model<Provider, Provides, Requires> =>
  AiModel.make(
    self.provider,
    Layer.provideMerge(layerWith({ provider: self.provider, ...options }), self as Layer.Layer<any, never, Requires>)
  ) as any
