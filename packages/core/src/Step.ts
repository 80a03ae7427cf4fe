/**
 * The combinators that record steps (`step`, `Step.fn`), and the Step record (re-exported from
 * `StepRecord`).
 *
 * @since 0.1.0
 */
import { Context, Effect } from "effect"
import type { Schema } from "effect"
import { AgentContext, type AgentContextService } from "./AgentContext.js"
import type { BackendError, ReplayError, RunError, SerializationError } from "./Errors.js"
import type { RedactedReplayPolicy } from "./Redaction.js"
import { type DriftPolicy, RunContext } from "./RunContext.js"
import type { StepContext, Usage } from "./StepContext.js"
import type { StepKind } from "./StepRecord.js"

export * from "./StepRecord.js"

/**
 * Options of a step.
 *
 * - `kind`: what the step does (default `"function"`).
 * - `input`: the value that identifies the call; its canonical JSON is hashed into the replay
 *   key, so give everything that changes the result (prompt, model, arguments).
 * - `inputSchema`: encodes `input` when it holds non-JSON values (dates, classes).
 * - `output`: a schema for the result; the step returns the decoded round-trip of its encoding,
 *   on first execution and on replay alike. Without it the result must be plain JSON.
 * - `usage`: tokens and cost read off the result.
 * - `onDrift`: overrides the run's drift policy for this step.
 * - `onRedactedReplay`: overrides the `Redaction` layer's policy for this step, when replay
 *   meets its recorded output redacted.
 *
 * @since 0.1.0
 */
export interface StepOptions<A, I = unknown> {
  readonly kind?: StepKind | undefined
  readonly input?: I | undefined
  readonly inputSchema?: Schema.Schema<I, any> | undefined
  readonly output?: Schema.Schema<A, any> | undefined
  readonly usage?: ((result: A) => Usage) | undefined
  readonly onDrift?: DriftPolicy | undefined
  readonly onRedactedReplay?: RedactedReplayPolicy | undefined
}

/**
 * Step options that read the result (`output`, `usage`): they fix the step's result type.
 *
 * @since 0.1.0
 */
export type TypedStepOptions<A, I = unknown> =
  & StepOptions<A, I>
  & ({ readonly output: Schema.Schema<A, any> } | { readonly usage: (result: A) => Usage })

/**
 * Step options that do not read the result.
 *
 * @since 0.1.0
 */
export type PlainStepOptions<I = unknown> = Omit<StepOptions<unknown, I>, "output" | "usage">

/**
 * The errors a step adds to its body's: a value that is not JSON, a recorded result that cannot
 * be replayed, the backend, and a step of a run or agent that has ended (`RunError("Ended")`).
 *
 * @since 0.1.0
 */
export type StepError = SerializationError | ReplayError | BackendError | RunError

/**
 * Records `self` as a step of the current agent (or of the run's default agent, created on
 * first use). During replay a step with a recorded result returns it without running `self`.
 * `RunContext` joins the requirements, so a step outside `withRun` does not compile.
 *
 * @example
 * const answer = yield* llm.complete(prompt).pipe(
 *   step("ask", { kind: "llm_call", input: { prompt }, usage: (r) => ({ tokensUsed: r.tokens }) })
 * )
 *
 * @since 0.1.0
 */
export const step: {
  <A, I = unknown>(
    name: string,
    options: TypedStepOptions<A, I>
  ): <E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StepError, Exclude<R, StepContext> | RunContext>
  <I = unknown>(
    name: string,
    options?: PlainStepOptions<I>
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StepError, Exclude<R, StepContext> | RunContext>
} = (name: string, options: StepOptions<any, any> = {}) => (self: Effect.Effect<any, any, any>) =>
  record(name, options, self)

/** The arguments up to the last one that is not `undefined`: an omitted optional argument is no input. */
const withoutTrailingUndefined = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  let length = args.length
  while (length > 0 && args[length - 1] === undefined) length--
  return length === args.length ? args : args.slice(0, length)
}

/**
 * Turns a function returning an effect into one whose every call is a step. The step's input
 * is the arguments array without its trailing `undefined` arguments (so `f("q")` and
 * `f("q", undefined)` are the same call, with the same input hash), or what `options.input`
 * derives from the arguments.
 *
 * @example
 * const search = Step.fn("search", { kind: "tool_call" })((query: string) => searchWeb(query))
 *
 * @since 0.1.0
 */
export const fn = (
  name: string,
  options: Omit<PlainStepOptions, "input"> & { readonly input?: ((...args: any) => unknown) | undefined } = {}
) =>
<Args extends ReadonlyArray<unknown>, A, E, R>(
  body: (...args: Args) => Effect.Effect<A, E, R>
): (...args: Args) => Effect.Effect<A, E | StepError, Exclude<R, StepContext> | RunContext> =>
(...args) => {
  const input = options.input === undefined ? withoutTrailingUndefined(args) : options.input(...args)
  return record(name, { ...options, input }, body(...args))
}

/**
 * Records `body` through the current agent's `runStep`, or the run's default agent's when no
 * `AgentContext` is provided: any value of the service interfaces works, wrapped ones included.
 */
const record = <A, E, R>(
  name: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | StepError, Exclude<R, StepContext> | RunContext> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<RunContext>
    const agent = context.unsafeMap.get(AgentContext.key) as AgentContextService | undefined
    const current = Context.get(context, RunContext)
    // the body's `StepContext` is the run's, which finds the step through the fiber
    const run = body as Effect.Effect<A, E, Exclude<R, StepContext>>
    // an agent of an outer run is shadowed by the innermost `withRun`
    if (agent !== undefined && agent.runContext.runId === current.runId) return agent.runStep(name, options, run)
    return Effect.flatMap(current.defaultAgent, (agent) => agent.runStep(name, options, run))
  })
