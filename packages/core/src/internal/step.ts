/**
 * Steps in this process: execute (the fiber slot that gives a step body its `StepContext`),
 * replay (a recorded result instead of an execution), drift (a recorded step called with
 * another input), and steps driven by hand.
 */
import { Cause, Effect, Either, Option, ParseResult, Schema } from "effect"
import { type BackendError, ReplayError, SerializationError } from "../Errors.js"
import type { StepId } from "../Ids.js"
import type { ErrorInfo, Status } from "../Model.js"
import type { StepOptions } from "../Step.js"
import type { StepContextService, StepInfo, Usage } from "../StepContext.js"
import type { StepUsage } from "../Telemetry.js"
import type * as StepRecord from "../StepRecord.js"
import type { AgentState } from "./agent.js"
import { canonicalJson, firstDifference, sha256 } from "./canonical.js"
import { causeInfo, errorInfo } from "./errorInfo.js"
import { isMarker, redactedOutput } from "./redaction.js"
import type { Recorded, ReplayCache } from "./replay.js"
import type { RunState } from "./runState.js"
import { serviceOf, slotOf } from "./stepContext.js"
import * as Totals from "./totals.js"

const serializationFromParse = (path: string, error: ParseResult.ParseError) =>
  new SerializationError({
    path,
    found: "a value its schema cannot encode",
    detail: ParseResult.TreeFormatter.formatErrorSync(error)
  })

/** The error for a value over the size limit: refused at the step, never dropped later. */
const tooLarge = (path: string, size: number, limit: number) =>
  new SerializationError({
    path,
    found: `a value of ${size.toLocaleString("en")} characters, over the limit of ${limit.toLocaleString("en")}`,
    detail: "store large payloads elsewhere and pass a reference, or raise `maxValueSize` in the run options"
  })

/** The canonical text of a step input (`null` when there is none), or why it has none. */
const inputText = (input: unknown): string | SerializationError => canonicalJson(input === undefined ? null : input, "input")

/** An executed step in this process; its usage so far is kept in its own fields. */
export class StepState implements Totals.MutableUsage {
  inputTokens = 0
  outputTokens = 0
  cachedInputTokens = 0
  reasoningTokens = 0
  tokensUsed = 0
  costNanos = 0
  /** A usage report said the cost is unknown. */
  costUnknown = false
  model: string | null = null
  /** The first usage report that could not be recorded: the step fails with it. */
  invalid: SerializationError | undefined = undefined
  done = false
  override: { readonly value: unknown } | undefined = undefined
  failedWith: ErrorInfo | undefined = undefined
  /** The neighbours of this step in its run's {@link InFlight} list. */
  previousInFlight: StepState | undefined = undefined
  nextInFlight: StepState | undefined = undefined

  constructor(
    readonly agent: AgentState,
    readonly info: StepInfo,
    readonly input: string,
    readonly manual: boolean
  ) {}

  addUsage(usage: Usage): void {
    const invalid = Totals.invalidUsage(usage)
    if (invalid !== undefined) {
      this.invalid ??= invalid
      return
    }
    if (Totals.addUsage(this, usage)) this.costUnknown = true
    if (usage.model !== undefined) this.model = usage.model
  }

  /** Sets the result (a `step(...)` body) or records the step at once (a step driven by hand). */
  complete(result: unknown, usage?: Usage): Effect.Effect<void, SerializationError | BackendError> {
    if (usage !== undefined) this.addUsage(usage)
    if (!this.manual) {
      this.override = { value: result }
      return Effect.void
    }
    if (this.invalid !== undefined) return this.failWith(this.invalid)
    const text = result === undefined ? null : canonicalJson(result, "output")
    if (text !== null && typeof text !== "string") return Effect.fail(text)
    return this.write("completed", text, null)
  }

  fail(error: unknown): Effect.Effect<void, BackendError> {
    this.failedWith = errorInfo(error)
    return this.manual ? this.write("failed", null, this.failedWith) : Effect.void
  }

  /** Writes the step record once and counts it into the agent's and the run's totals. */
  write(status: Status, output: string | null, error: ErrorInfo | null): Effect.Effect<void, BackendError> {
    if (this.done) return Effect.void
    this.done = true
    const { agent, info } = this
    const run = agent.run
    const endedAt = run.now()
    const latencyMs = endedAt - info.startedAtMillis
    run.inFlight.remove(this)
    Totals.addStep(agent.totals, latencyMs, this)
    Totals.addStep(run.totals, latencyMs, this)
    // one literal with every field (no spread): this runs once per step
    return run.client.writeStep({
      id: info.id,
      runId: run.runId,
      agentId: agent.id,
      name: info.name,
      kind: info.kind,
      seq: info.seq,
      inputHash: info.inputHash,
      input: this.input,
      output,
      error,
      status,
      startedAt: info.startedAtMillis,
      endedAt,
      latencyMs,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      cachedInputTokens: this.cachedInputTokens,
      reasoningTokens: this.reasoningTokens,
      tokensUsed: this.tokensUsed,
      costUsd: this.cost(),
      model: this.model,
      replayed: false
    })
  }

  /** The cost in USD; null when a usage report said it is unknown and none is known. */
  cost(): number | null {
    return this.costUnknown && this.costNanos === 0 ? null : this.costNanos / 1e9
  }

  /** The usage fields of the step's record: tokens, cost (null when unknown) and model. */
  usageFields(): StepUsage {
    return {
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      cachedInputTokens: this.cachedInputTokens,
      reasoningTokens: this.reasoningTokens,
      tokensUsed: this.tokensUsed,
      costUsd: this.cost(),
      model: this.model
    }
  }

  /** Encodes the result, records the step, and returns the value replay will return too. */
  finishSuccess<A>(value: A, options: StepOptions<A>): Effect.Effect<A, SerializationError | BackendError> {
    const result = this.override === undefined ? value : this.override.value as A
    if (options.usage !== undefined) {
      const usage = Totals.reported(options.usage, result)
      if (usage instanceof SerializationError) return this.failWith(usage)
      this.addUsage(usage)
    }
    if (this.invalid !== undefined) return this.failWith(this.invalid)
    let returned: A = result
    let encoded: unknown = result
    if (options.output !== undefined) {
      const either = Schema.encodeEither(options.output)(result)
      if (Either.isLeft(either)) return this.failWith(serializationFromParse("output", either.left))
      encoded = either.right
    }
    const text = encoded === undefined ? null : canonicalJson(encoded, "output")
    if (text !== null && typeof text !== "string") return this.failWith(text)
    const limit = this.agent.run.maxValueSize
    if (text !== null && text.length > limit) return this.failWith(tooLarge("output", text.length, limit))
    if (options.output !== undefined) {
      const decoded = Schema.decodeUnknownEither(options.output)(encoded)
      if (Either.isLeft(decoded)) return this.failWith(serializationFromParse("output", decoded.left))
      returned = decoded.right
    }
    const write = this.failedWith === undefined
      ? this.write("completed", text, null)
      : this.write("failed", text, this.failedWith)
    return Effect.as(write, returned)
  }

  finishFailure(cause: Cause.Cause<unknown>): Effect.Effect<void, BackendError> {
    return this.write(Cause.isInterruptedOnly(cause) ? "interrupted" : "failed", null, causeInfo(cause))
  }

  private failWith(error: SerializationError): Effect.Effect<never, SerializationError | BackendError> {
    return Effect.zipRight(this.write("failed", null, errorInfo(error)), Effect.fail(error))
  }
}

/** Takes a sequence number and starts the clock of an executed step. */
const begin = (agent: AgentState, name: string, kind: StepRecord.StepKind, input: string, manual: boolean): StepState => {
  const run = agent.run
  const seq = run.nextSeq++
  const startedAt = run.now()
  const step = new StepState(agent, {
    id: run.ids.next(startedAt) as StepId,
    name,
    kind,
    seq,
    inputHash: sha256(input),
    startedAtMillis: startedAt
  }, input, manual)
  run.inFlight.add(step)
  return step
}

/**
 * Records one step: replayed from the cache when the run holds a result for this exact call,
 * reported as drift when it holds one for the step name with another input, executed otherwise.
 */
export const runStep = <A, E, R>(
  agent: AgentState,
  name: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SerializationError | ReplayError | BackendError, R> => {
  const run = agent.run
  if (run.fenced !== undefined) return Effect.fail(run.fenced)
  let input = options.input
  if (options.inputSchema !== undefined) {
    const encoded = Schema.encodeEither(options.inputSchema)(input)
    if (Either.isLeft(encoded)) return Effect.fail(serializationFromParse("input", encoded.left))
    input = encoded.right
  }
  const text = inputText(input)
  if (typeof text !== "string") return Effect.fail(text)
  if (text.length > run.maxValueSize) return Effect.fail(tooLarge("input", text.length, run.maxValueSize))
  const kind = options.kind ?? "function"
  const replay = run.replay
  if (replay === undefined) return execute(agent, name, kind, text, options, body)
  const hit = replay.peek(agent.name, name, text)
  if (hit !== undefined && !hit.outputRedacted) {
    consume(run, replay, hit)
    return replayed(agent, hit, name, kind, options)
  }
  if (hit !== undefined) {
    const error = redactedOutput(agent.name, name)
    if ((options.onRedactedReplay ?? run.setup.redaction?.onRedactedReplay) === "fail") return Effect.fail(error)
    consume(run, replay, hit)
    const warning = `multirun: ${error.message} Executing it again (onRedactedReplay: "execute").`
    return Effect.zipRight(Effect.logWarning(warning), execute(agent, name, kind, text, options, body))
  }
  const drifted = replay.peekByName(agent.name, name)
  if (drifted === undefined) return execute(agent, name, kind, text, options, body)
  const error = driftError(agent, name, drifted, text)
  if ((options.onDrift ?? run.onDrift) === "fail") return Effect.fail(error)
  consume(run, replay, drifted)
  run.driftList.push(error)
  return Effect.zipRight(
    Effect.logWarning(`multirun: ${error.message} Executing it again (onDrift: "execute").`),
    execute(agent, name, kind, text, options, body)
  )
}

/** Marks a recorded step as used; replay ends with the last one. */
const consume = (run: RunState, replay: ReplayCache, entry: Recorded): void => {
  replay.consume(entry)
  if (replay.remaining === 0) run.replay = undefined
}

const driftError = (agent: AgentState, name: string, recorded: Recorded, text: string) =>
  new ReplayError({
    reason: "InputChanged",
    stepName: name,
    agentName: agent.name,
    expectedHash: recorded.hash,
    actualHash: sha256(text),
    path: firstDifference(JSON.parse(recorded.input), JSON.parse(text), "input", isMarker) ?? "input",
    detail: "the code now calls this step with another input than the one recorded"
  })

const undecodable = (agent: AgentState, name: string, detail: string) =>
  new ReplayError({ reason: "Decode", stepName: name, agentName: agent.name, detail })

/** Returns a recorded result and records the step as replayed (no latency, tokens or cost). */
const replayed = <A>(
  agent: AgentState,
  hit: Recorded,
  name: string,
  kind: StepRecord.StepKind,
  options: StepOptions<A>
): Effect.Effect<A, ReplayError | BackendError> => {
  let parsed: unknown
  try {
    parsed = hit.output === null ? undefined : JSON.parse(hit.output)
  } catch {
    return Effect.fail(undecodable(agent, name, "the recorded output is not JSON: the store holds a corrupt step row"))
  }
  let value = parsed as A
  if (options.output !== undefined) {
    const decoded = Schema.decodeUnknownEither(options.output)(parsed)
    if (Either.isLeft(decoded)) {
      const detail = ParseResult.TreeFormatter.formatErrorSync(decoded.left)
      return Effect.fail(undecodable(agent, name, `the recorded output no longer matches the step's output schema: ${detail}`))
    }
    value = decoded.right
  }
  const run = agent.run
  const now = run.now()
  const record: StepRecord.Encoded = {
    id: run.ids.next(now),
    runId: run.runId,
    agentId: agent.id,
    name,
    kind,
    seq: run.nextSeq++,
    inputHash: hit.hash,
    // the recorded text: the call's own, or its redaction when the input was redacted
    input: hit.input,
    output: hit.output,
    error: null,
    status: "completed",
    startedAt: now,
    endedAt: now,
    latencyMs: 0,
    // no usage: a replayed step costs nothing (written out, no spread, as this runs per step)
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    tokensUsed: 0,
    costUsd: 0,
    model: null,
    replayed: true
  }
  const written = Effect.as(run.client.writeStep(record), value)
  return run.telemetry === undefined ? written : run.telemetry.replayed(agent, record, options.input, written)
}

/** Runs the body as a step; its fiber's slot points at the step while the body runs. */
const execute = <A, E, R>(
  agent: AgentState,
  name: string,
  kind: StepRecord.StepKind,
  input: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SerializationError | BackendError, R> =>
  Effect.withFiberRuntime((fiber) => {
    const step = begin(agent, name, kind, input, false)
    const slot = slotOf(fiber)
    const previous = slot.current
    slot.current = step
    // no finalizer on the hot path: a step whose fiber is interrupted stays in `inFlight` and is
    // recorded as interrupted when the run ends
    const effect = Effect.matchCauseEffect(body, {
      onSuccess: (value) => {
        slot.current = previous
        return step.finishSuccess(value, options)
      },
      onFailure: (cause) => {
        slot.current = previous
        return Effect.zipRight(Effect.ignoreLogged(step.finishFailure(cause)), Effect.failCause(cause))
      }
    })
    const telemetry = agent.run.telemetry
    return telemetry === undefined ? effect : telemetry.executed(fiber.currentContext, step, options.input, effect)
  })

/** `AgentContext.startStep`: a step driven by hand. */
export const startStep = (
  agent: AgentState,
  options: { readonly name: string; readonly kind?: StepRecord.StepKind | undefined; readonly input?: unknown }
): Effect.Effect<StepContextService, SerializationError> =>
  Effect.withFiberRuntime((fiber) => {
    const text = inputText(options.input)
    if (typeof text !== "string") return Effect.fail(text)
    const step = begin(agent, options.name, options.kind ?? "function", text, true)
    const telemetry = agent.run.telemetry
    const service = serviceOf(step)
    return Effect.succeed(
      telemetry === undefined ? service : telemetry.manualStep(fiber.currentContext, step, options.input, service)
    )
  })

/** `AgentContext.getStepResult`: the recorded result of a call, if replay holds one (not consumed). */
export const getStepResult = (
  agent: AgentState,
  name: string,
  input: unknown
): Effect.Effect<Option.Option<unknown>, SerializationError> =>
  Effect.suspend(() => {
    const text = inputText(input)
    if (typeof text !== "string") return Effect.fail(text)
    const hit = agent.run.replay?.peek(agent.name, name, text)
    return Effect.succeed(
      hit === undefined || hit.outputRedacted
        ? Option.none()
        : Option.some(hit.output === null ? undefined : JSON.parse(hit.output))
    )
  })
