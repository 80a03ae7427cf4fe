/**
 * Tool handlers of an @effect/ai `Toolkit` recorded as `tool_call` steps, replayed on resume.
 *
 * @since 0.2.0
 */
import type * as Tool from "@effect/ai/Tool"
import type * as Toolkit from "@effect/ai/Toolkit"
import { RunContext, step } from "@multirun/core"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { isRecordingError } from "./internal/errors.js"
import { plain } from "./internal/json.js"

/**
 * Wraps one tool handler: inside a run each call is a `tool_call` step named after the tool,
 * with the encoded parameters as input and the encoded success as output (decoded with the
 * tool's success schema, on first execution and on replay alike). An executed call's record is
 * durable before its result is returned (a flush of the run's writes), so a crash right after a
 * tool's side effect keeps the record of it. A handler failure fails the step, which is never
 * replayed. Outside a run the handler runs untouched.
 *
 * @since 0.2.0
 */
export const wrapHandler = <A, E, R>(
  tool: Tool.Any,
  handler: (params: any) => Effect.Effect<A, E, R>
): (params: any) => Effect.Effect<A, E, R> => {
  const encodeParams = Schema.encode(tool.parametersSchema as Schema.Schema<any, any, never>)
  const output = tool.successSchema as Schema.Schema<A, any, never>
  return (params) =>
    Effect.flatMap(Effect.serviceOption(RunContext), (run) => {
      if (Option.isNone(run)) return handler(params)
      let executed = false
      return encodeParams(params).pipe(
        Effect.orElseSucceed(() => params),
        Effect.flatMap((encoded) =>
          Effect.suspend(() => {
            executed = true
            return handler(params)
          }).pipe(
            step(tool.name, { kind: "tool_call", input: { params: plain(encoded) }, output }),
            // the tool's side effect is done: its record is durable before its result is used
            Effect.tap(() => executed ? run.value.client.flush : Effect.void),
            Effect.provideService(RunContext, run.value)
          )
        ),
        // a failure to record is a defect of the tool call: handlers have typed errors of their own
        Effect.catchIf(isRecordingError, (error) => Effect.die(error))
      ) as Effect.Effect<A, E, R>
    })
}

/**
 * Tracks the handlers of a toolkit: a layer that takes the toolkit's handlers from the context
 * (from `toolkit.toLayer(...)`) and gives them back wrapped by {@link wrapHandler}. Calls made
 * by `LanguageModel.generateText({ toolkit })` then become `tool_call` steps, with no change to
 * the calls.
 *
 * @example
 * const HandlersLayer = TrackedToolkit.layer(MyToolkit).pipe(Layer.provide(MyToolkit.toLayer(handlers)))
 *
 * @since 0.2.0
 */
export const layer = <Tools extends Record<string, Tool.Any>>(
  toolkit: Toolkit.Toolkit<Tools>
): Layer.Layer<Tool.HandlersFor<Tools>, never, Tool.HandlersFor<Tools>> =>
  Layer.effectContext(
    Effect.map(Effect.context<never>(), (context) => {
      const handlers = new Map<string, unknown>()
      for (const tool of Object.values(toolkit.tools) as Array<Tool.Any>) {
        const found = context.unsafeMap.get(tool.id) as Tool.Handler<string> | undefined
        if (found === undefined) continue
        handlers.set(tool.id, { ...found, handler: wrapHandler(tool, found.handler) })
      }
      return Context.unsafeMake(handlers) as Context.Context<Tool.HandlersFor<Tools>>
    })
  )
