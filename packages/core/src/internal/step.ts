/**
 * Steps in this process: execute (the fiber slot that gives a step body its `StepContext`),
 * replay (a recorded result instead of an execution), drift (a recorded step called with
 * another input), and steps driven by hand.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import { type BackendError, ReplayError, RunError, type SerializationError } from "../Errors.js"
import type { StepId } from "../Ids.js"
import type { StepOptions } from "../Step.js"
import type { StepContextService } from "../StepContext.js"
import type * as StepRecord from "../StepRecord.js"
import type { AgentState } from "./agent.js"
import { canonicalJson, firstDifference, sha256 } from "./canonical.js"
import { bytesOver, checkText } from "./storable.js"
import { isMarker, redactedOutput } from "./redaction.js"
import type { NameCalls, Place, ReplayCache, Slot } from "./replay.js"
import type { RunState } from "./runState.js"
import { serviceOf, type StepSlot, slotOf } from "./stepContext.js"
import { interruptedInfo, serializationFromParse, StepState, tooLarge } from "./stepState.js"

/** The canonical text of a step input (`null` when there is none), or why it has none (its name included). */
const inputText = (name: string, input: unknown): string | SerializationError =>
  checkText(name, "step name") ?? canonicalJson(input === undefined ? null : input, "input")

/** The step the fiber is executing, when it belongs to this run: the parent of a step it calls. */
const parentOf = (run: RunState, slot: StepSlot): StepState | undefined => {
  const current = slot.current
  return current !== undefined && current.agent.run === run ? current : undefined
}

/** Takes a sequence number and starts the clock of an executed step. */
const begin = (
  agent: AgentState,
  name: string,
  kind: StepRecord.StepKind,
  input: string,
  manual: boolean,
  parent: StepState | undefined,
  occurrence: number | null
): StepState => {
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
  }, input, manual, parent?.info.id ?? null, occurrence)
  run.inFlight.add(step)
  run.executed = true
  return step
}

/** Why a step may not be recorded now: its run or its agent has ended. */
const ended = (agent: AgentState): RunError | undefined => {
  const run = agent.run
  if (run.ending === undefined && !agent.ended) return undefined
  const owner = run.ending !== undefined ? `run ${run.runId}` : `agent "${agent.name}"`
  return new RunError({
    reason: "Ended",
    runId: run.runId,
    detail: `a step was called after its ${owner} ended (${(run.ending ?? agent.ending)!.status}), so it ` +
      "would be left out of the totals; keep forks and finalizers that record steps inside `withRun`/`withAgent`"
  })
}

/**
 * Records one step. During replay the call takes the next place of its key (agent, step name,
 * input): it returns the record there when the place holds a replayable one and executes
 * otherwise. A call with no place while its step name still has records to replay may be drift:
 * it executes and is reported once the records are left unmatched, or fails at once under
 * `onDrift: "fail"`.
 */
export const runStep = <A, E, R>(
  agent: AgentState,
  name: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SerializationError | ReplayError | BackendError | RunError, R> => {
  const run = agent.run
  if (run.fenced !== undefined) return Effect.fail(run.fenced)
  const over = ended(agent)
  if (over !== undefined) return Effect.fail(over)
  let input = options.input
  if (options.inputSchema !== undefined) {
    const encoded = Schema.encodeEither(options.inputSchema)(input)
    if (Either.isLeft(encoded)) return Effect.fail(serializationFromParse("input", encoded.left))
    input = encoded.right
  }
  const text = inputText(name, input)
  if (typeof text !== "string") return Effect.fail(text)
  const size = bytesOver(text, run.maxValueSize)
  if (size !== undefined) return Effect.fail(tooLarge("input", size, run.maxValueSize))
  const kind = options.kind ?? "function"
  const replay = run.replay
  if (replay === undefined) return execute(agent, name, kind, text, options, body, undefined, null)
  const at = replay.place(agent.name, name, text)
  // a call of a step name with records counts among the calls of its key; another one's place is
  // counted where the attempt is read back, from its records
  const occurrence = at.names === undefined ? null : at.calls?.calls ?? 0
  const slot = at.slot
  if (slot !== undefined && slot.replayable && !slot.consumed) {
    if (!slot.outputRedacted) {
      replay.take(at)
      consume(replay, at, slot)
      return replayed(agent, slot, name, kind, options)
    }
    const error = redactedOutput(agent.name, name)
    if ((options.onRedactedReplay ?? run.setup.redaction?.onRedactedReplay) === "fail") return Effect.fail(error)
    replay.take(at)
    consume(replay, at, slot)
    const warning = `multirun: ${error.message} Executing it again (onRedactedReplay: "execute").`
    return Effect.zipRight(Effect.logWarning(warning), execute(agent, name, kind, text, options, body, undefined, occurrence))
  }
  const names = slot === undefined && at.names !== undefined && at.names.unconsumed > 0 ? at.names : undefined
  if (names !== undefined && (options.onDrift ?? run.onDrift) === "fail") {
    return Effect.fail(driftError({ agentName: agent.name, name, recorded: replay.firstUnconsumed(names)!, input: text }))
  }
  replay.take(at)
  return execute(agent, name, kind, text, options, body, names, occurrence)
}

/** Marks a recorded step as used; replay ends with the last one. */
const consume = (replay: ReplayCache, at: Place, slot: Slot): void => {
  replay.consume(at, slot)
  if (replay.remaining === 0) replay.release()
}

/**
 * The drift of a call: the recorded call of the same step it took the place of, and its own
 * input. A recorded input that is not JSON (a corrupt step row) is `ReplayError("Decode")`.
 */
export const driftError = (drift: {
  readonly agentName: string
  readonly name: string
  readonly recorded: Slot
  readonly input: string
}): ReplayError => {
  let recorded: unknown
  try {
    recorded = JSON.parse(drift.recorded.input)
  } catch {
    return new ReplayError({
      reason: "Decode",
      stepName: drift.name,
      agentName: drift.agentName,
      detail: `the recorded input of the call at seq ${drift.recorded.seq} is not JSON: the store holds a corrupt ` +
        "step row; restore the database from a backup, or fork the run from an earlier checkpoint"
    })
  }
  return new ReplayError({
    reason: "InputChanged",
    stepName: drift.name,
    agentName: drift.agentName,
    expectedHash: drift.recorded.hash,
    actualHash: sha256(drift.input),
    path: firstDifference(recorded, JSON.parse(drift.input), "input", isMarker) ?? "input",
    detail: "the code now calls this step with another input than the one recorded"
  })
}

const undecodable = (agent: AgentState, name: string, detail: string) =>
  new ReplayError({ reason: "Decode", stepName: name, agentName: agent.name, detail })

/**
 * Returns a recorded result. The call writes no step record: the run's current replay notes the
 * record's `seq` (and the executing parent step, if any, that the record was replayed inside).
 */
const replayed = <A>(
  agent: AgentState,
  hit: Slot,
  name: string,
  kind: StepRecord.StepKind,
  options: StepOptions<A>
): Effect.Effect<A, ReplayError> => {
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
  return Effect.withFiberRuntime((fiber) => {
    const run = agent.run
    run.noteReplayed(hit, parentOf(run, slotOf(fiber)))
    const result = Effect.succeed(value)
    return run.telemetry === undefined ? result : run.telemetry.replayed(agent, hit, name, kind, options.input, result)
  })
}

/** Runs the body as a step; its fiber's slot points at the step while the body runs. */
const execute = <A, E, R>(
  agent: AgentState,
  name: string,
  kind: StepRecord.StepKind,
  input: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>,
  suspectOf: NameCalls | undefined,
  occurrence: number | null
): Effect.Effect<A, E | SerializationError | BackendError, R> =>
  Effect.withFiberRuntime((fiber) => {
    const slot = slotOf(fiber)
    const previous = slot.current
    const step = begin(agent, name, kind, input, false, parentOf(agent.run, slot), occurrence)
    if (suspectOf !== undefined) {
      step.suspect = true
      suspectOf.suspects.push({ input, mark: (path) => step.markDrift(path) })
    }
    slot.current = step
    // an interrupted fiber skips the handlers below: the step is recorded when its fiber ends, as
    // interrupted, with its own latency and the usage it reported (an observer costs far less
    // than an uninterruptible region around every body)
    const cutOff = () => {
      if (!step.done) Effect.runFork(Effect.ignoreLogged(step.write("interrupted", null, interruptedInfo)))
    }
    fiber.addObserver(cutOff)
    const effect = Effect.matchCauseEffect(body, {
      onSuccess: (value) => {
        fiber.removeObserver(cutOff)
        slot.current = previous
        return step.finishSuccess(value, options)
      },
      onFailure: (cause) => {
        fiber.removeObserver(cutOff)
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
): Effect.Effect<StepContextService, SerializationError | RunError> =>
  Effect.withFiberRuntime((fiber) => {
    const over = ended(agent)
    if (over !== undefined) return Effect.fail(over)
    const text = inputText(options.name, options.input)
    if (typeof text !== "string") return Effect.fail(text)
    // a step driven by hand executes: it takes its place among the calls of its key, and a record
    // at that place is used up (the program chose not to replay it, see `getStepResult`)
    const run = agent.run
    const replay = run.replay
    const at = replay?.place(agent.name, options.name, text)
    const occurrence = at === undefined || at.names === undefined ? null : at.calls?.calls ?? 0
    if (at !== undefined) {
      replay!.take(at)
      if (at.slot !== undefined && at.slot.replayable && !at.slot.consumed) consume(replay!, at, at.slot)
    }
    const step = begin(agent, options.name, options.kind ?? "function", text, true, parentOf(run, slotOf(fiber)), occurrence)
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
    const text = inputText(name, input)
    if (typeof text !== "string") return Effect.fail(text)
    const hit = agent.run.replay?.peek(agent.name, name, text)
    return Effect.succeed(
      hit === undefined || hit.outputRedacted
        ? Option.none()
        : Option.some(hit.output === null ? undefined : JSON.parse(hit.output))
    )
  })
