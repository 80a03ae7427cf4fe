/**
 * A step executed in this process: its usage so far, its result or failure, and its record,
 * written once and counted into the totals of its agent and run.
 */
import { Cause, Effect, Either, ParseResult, Schema } from "effect"
import { type BackendError, SerializationError } from "../Errors.js"
import type { StepId } from "../Ids.js"
import type { ErrorInfo, Status } from "../Model.js"
import type { StepOptions } from "../Step.js"
import type { StepInfo, Usage } from "../StepContext.js"
import type { StepUsage } from "../Telemetry.js"
import type * as StepRecord from "../StepRecord.js"
import type { AgentState } from "./agent.js"
import { canonicalJson } from "./canonical.js"
import { bytesOver } from "./storable.js"
import { causeInfo, errorInfo } from "./errorInfo.js"
import { SeqRangesBuilder } from "./seqRanges.js"
import * as Totals from "./totals.js"

/** A value its schema cannot encode, as the `SerializationError` of `path`. */
export const serializationFromParse = (path: string, error: ParseResult.ParseError) =>
  new SerializationError({
    path,
    found: "a value its schema cannot encode",
    detail: ParseResult.TreeFormatter.formatErrorSync(error)
  })

/** The error for a value over the size limit: refused at the step, never dropped later. */
export const tooLarge = (path: string, size: number, limit: number) =>
  new SerializationError({
    path,
    found: `a value of ${size.toLocaleString("en")} bytes of UTF-8, over the limit of ${limit.toLocaleString("en")}`,
    detail: "store large payloads elsewhere and pass a reference, or raise `maxValueSize` in the run options"
  })

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
  /** A usage report gave a cost. */
  costReported = false
  model: string | null = null
  /** The first usage report that could not be recorded: the step fails with it. */
  invalid: SerializationError | undefined = undefined
  done = false
  override: { readonly value: unknown } | undefined = undefined
  failedWith: ErrorInfo | undefined = undefined
  /** The neighbours of this step in its run's {@link InFlight} list. */
  previousInFlight: StepState | undefined = undefined
  nextInFlight: StepState | undefined = undefined
  /** The JSON path of the first difference, once replay found this call drifted. */
  drift: string | null = null
  /** The record as written, kept only for a drift suspect (its mark is written later). */
  written: StepRecord.Encoded | undefined = undefined

  /** The recorded steps that calls inside this step's body replayed (see `Step.replayedInside`). */
  replayedInside: SeqRangesBuilder | undefined = undefined

  constructor(
    readonly agent: AgentState,
    readonly info: StepInfo,
    readonly input: string,
    readonly manual: boolean,
    readonly parentId: StepId | null,
    /** Its place among the calls of its key in the attempt, when replay counts them. */
    readonly occurrence: number | null
  ) {}

  /** Notes a record that a call inside this step's body replayed. */
  replayedWithin(seq: number): void {
    if (this.done) return
    if (this.replayedInside === undefined) this.replayedInside = new SeqRangesBuilder()
    this.replayedInside.add(seq)
  }

  /** Adds reported usage; usage reported after the step was recorded is refused with a warning. */
  addUsage(usage: Usage): Effect.Effect<void> {
    if (this.done) {
      return Effect.logWarning(
        `multirun: usage reported for step "${this.info.name}" after it was recorded (a fork or a finalizer that ` +
          "outlived its step?) is not counted; report usage inside the step's body"
      )
    }
    this.addUsageNow(usage)
    return Effect.void
  }

  private addUsageNow(usage: Usage): void {
    const invalid = Totals.invalidUsage(usage)
    if (invalid !== undefined) {
      this.invalid ??= invalid
      return
    }
    if (Totals.addUsage(this, usage)) this.costUnknown = true
    if (typeof usage.costUsd === "number") this.costReported = true
    if (usage.model !== undefined) this.model = usage.model
  }

  /** Marks this call drifted: written with the mark when it ends, or written again if it has. */
  markDrift(path: string): Effect.Effect<void, BackendError> {
    this.drift = path
    const written = this.written
    return written === undefined ? Effect.void : this.agent.run.client.writeStep({ ...written, drift: path })
  }

  /** Sets the result (a `step(...)` body) or records the step at once (a step driven by hand). */
  complete(result: unknown, usage?: Usage): Effect.Effect<void, SerializationError | BackendError> {
    if (usage !== undefined) this.addUsageNow(usage)
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
    const costUsd = this.cost()
    Totals.addStep(agent.totals, latencyMs, this, costUsd === null)
    Totals.addStep(run.totals, latencyMs, this, costUsd === null)
    // one literal with every field (no spread): this runs once per step
    const record: StepRecord.Encoded = {
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
      costUsd,
      model: this.model,
      replayed: false,
      parentId: this.parentId,
      drift: this.drift,
      occurrence: this.occurrence
    }
    const inside = this.replayedInside
    const full = inside === undefined ? record : { ...record, replayedInside: inside.toRanges() }
    if (this.suspect) this.written = full
    return run.client.writeStep(full)
  }

  /** Whether this call may be found drifted after it is written (its record is then kept). */
  suspect = false

  /**
   * The cost in USD; null when it is unknown: a usage report said so, or reported tokens or a
   * model without any cost. A step that reported no usage at all cost nothing.
   */
  cost(): number | null {
    if (this.costNanos !== 0 || this.costReported) return this.costNanos / 1e9
    return this.costUnknown || this.tokensUsed > 0 || this.model !== null ? null : 0
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
      this.addUsageNow(usage)
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
    const size = text === null ? undefined : bytesOver(text, limit)
    if (size !== undefined) return this.failWith(tooLarge("output", size, limit))
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

/** How a step cut by an interruption is recorded. */
export const interruptedInfo: ErrorInfo = { tag: "Interrupted", message: "the step was interrupted before it ended", kind: "interruption" }
