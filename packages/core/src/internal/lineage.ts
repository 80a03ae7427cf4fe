/**
 * Reading checkpoints back: decoding a stored one, and the lineage it leads to: the timeline of
 * recorded calls replay follows (through the runs it was forked from), and what the run spent.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as Checkpoint from "../Checkpoint.js"
import { type BackendError, CheckpointError } from "../Errors.js"
import type { MultiRunClientService } from "../MultiRunClient.js"
import type * as Step from "../StepRecord.js"
import { holdsMarker } from "./redaction.js"
import { type KeyCalls, keyCallsOf, placeAt, type Slot, type Timeline } from "./replay.js"
import * as Totals from "./totals.js"

const decodeCheckpoint = Schema.decodeUnknownEither(Checkpoint.Checkpoint)

/** Decodes a stored checkpoint, turning a broken payload into `CheckpointError("Corrupt")`. */
export const toCheckpoint = (encoded: unknown, checkpointId: string): Effect.Effect<Checkpoint.Checkpoint, CheckpointError> => {
  const decoded = decodeCheckpoint(encoded)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : Effect.fail(
      new CheckpointError({
        reason: "Corrupt",
        checkpointId,
        detail: `the stored checkpoint does not decode: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}`
      })
    )
}

/** Loads a checkpoint by id or fails with `CheckpointError("NotFound")`. */
export const loadCheckpoint = (
  client: MultiRunClientService,
  checkpointId: string
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> =>
  client.getCheckpoint(checkpointId).pipe(
    Effect.flatMap(Option.match({
      onNone: () =>
        Effect.fail(
          new CheckpointError({
            reason: "NotFound",
            checkpointId,
            detail: "no checkpoint with this id exists in the backend; list a run's checkpoints with `Checkpoints.list`"
          })
        ),
      onSome: (encoded) => toCheckpoint(encoded, checkpointId)
    }))
  )

/**
 * What a checkpoint's lineage holds: the recorded timeline replay follows, the run's highest
 * `seq`, and what the run's executed steps cost so far (over every attempt).
 */
export interface Lineage {
  readonly timeline: Timeline
  readonly maxSeq: number
  readonly spent: Totals.Spent
}

/** A stored step as a place of its key. */
const slotOf = (step: Step.Encoded, replayable: boolean): Slot => ({
  id: step.id,
  runId: step.runId,
  hash: step.inputHash,
  input: step.input,
  output: step.output,
  outputRedacted: step.output !== null && holdsMarker(step.output),
  replayable,
  seq: step.seq,
  consumed: false
})

/** The key of a stored call: its input text, or its hash when the stored input was redacted. */
const keyOf = (step: Step.Encoded): string => holdsMarker(step.input) ? `#${step.inputHash}` : step.input

/**
 * The timeline of a checkpoint: the runs it was forked from (up to their fork points), then its
 * own run's calls. Each attempt of the run (its `segments`) calls the program from the top, so
 * its n-th call of a key takes the n-th place of that key: a replayed call leaves the place as
 * it was, an executed one puts its own record there (replayable when it completed and the
 * checkpoint covers it). A step inside a replayable record is not a call of its own: the record
 * stands for it. `forkedFrom` saves a read when the caller knows the run's parent checkpoint.
 */
export const lineage = (
  client: MultiRunClientService,
  checkpoint: Checkpoint.Checkpoint,
  forkedFrom?: string | null
): Effect.Effect<Lineage, CheckpointError | BackendError> =>
  Effect.gen(function*() {
    const [steps, agents] = yield* Effect.all([client.listSteps(checkpoint.runId), client.listAgents(checkpoint.runId)])
    const names = new Map(agents.map((agent) => [agent.id, agent.name]))
    const parentId = forkedFrom !== undefined
      ? forkedFrom
      : Option.getOrNull(Option.flatMap(yield* client.getRun(checkpoint.runId), (r) => Option.fromNullable(r.forkedFrom)))
    const timeline: Timeline = parentId === null
      ? new Map()
      : (yield* lineage(client, yield* loadCheckpoint(client, parentId))).timeline
    const ordered = inSeqOrder(steps)
    const maxSeq = ordered.length === 0 ? -1 : ordered[ordered.length - 1]!.seq
    const missing = missingSeqs(checkpoint.covered, ordered)
    if (missing.length > 0) {
      return yield* new CheckpointError({
        reason: "Corrupt",
        checkpointId: checkpoint.id,
        runId: checkpoint.runId,
        detail: `steps the checkpoint covers are missing from the store (seq ${missing.join(", ")}); ` +
          "they would run again without their recorded results, so the restore stops here"
      })
    }
    if (checkpoint.segments === undefined) legacyTimeline(timeline, ordered, names, checkpoint)
    else foldSegments(timeline, ordered, names, checkpoint, checkpoint.segments)
    return { timeline, maxSeq, spent: Totals.spent(ordered) }
  })

/** A checkpoint written before 0.3: its completed, executed, covered steps in order, one place each. */
const legacyTimeline = (
  timeline: Timeline,
  steps: ReadonlyArray<Step.Encoded>,
  names: ReadonlyMap<string, string>,
  checkpoint: Checkpoint.Checkpoint
): void => {
  for (const step of steps) {
    if (step.status !== "completed" || step.replayed || !Checkpoint.covers(checkpoint.covered, step.seq)) continue
    placeAt(keyCallsOf(timeline, names.get(step.agentId) ?? "", step.name, keyOf(step)), Number.MAX_SAFE_INTEGER, slotOf(step, true))
  }
}

/** A call of an attempt as the fold reads it: a stored step, or a step in flight at the checkpoint. */
interface Call {
  readonly seq: number
  readonly step: Step.Encoded | undefined
  readonly pending: Checkpoint.PendingStep | undefined
}

/** The stored steps inside `segments` and the steps in flight without a stored step, in `seq` order. */
const callsOf = (
  steps: ReadonlyArray<Step.Encoded>,
  pending: ReadonlyArray<Checkpoint.PendingStep>,
  segments: Checkpoint.Ranges
): Array<Call> => {
  const calls: Array<Call> = []
  const stored = new Set<number>()
  for (const step of steps) {
    if (!Checkpoint.covers(segments, step.seq)) continue
    calls.push({ seq: step.seq, step, pending: undefined })
    if (pending.length > 0) stored.add(step.seq)
  }
  if (pending.length === 0) return calls
  for (const p of pending) {
    if (!stored.has(p.seq) && Checkpoint.covers(segments, p.seq)) calls.push({ seq: p.seq, step: undefined, pending: p })
  }
  return calls.sort((a, b) => a.seq - b.seq)
}

/**
 * Folds the calls of each attempt into the timeline, then takes out the calls inside replayable
 * records. A call's occurrence is the one it recorded; a record without one (its step name had
 * nothing to replay in its attempt, or it was written before 0.3 with a record for each replayed
 * call) is counted among the attempt's records of its key. Only a run with nested steps (a
 * parent, or records replayed inside a step) keeps what the second part needs.
 */
const foldSegments = (
  timeline: Timeline,
  steps: ReadonlyArray<Step.Encoded>,
  names: ReadonlyMap<string, string>,
  checkpoint: Checkpoint.Checkpoint,
  segments: Checkpoint.Ranges
): void => {
  const calls = callsOf(steps, checkpoint.pending, segments)
  const nested = calls.some(({ step }) =>
    step !== undefined && (step.parentId != null || (step.replayedInside !== undefined && step.replayedInside.length > 0))
  )
  // a call known by its hash only (in flight at a checkpoint) takes the key its text has elsewhere
  let keyByHash: Map<string, string> | undefined
  const keyOfPending = (p: Checkpoint.PendingStep): string => {
    if (keyByHash === undefined) {
      keyByHash = new Map()
      for (const { step } of calls) {
        if (step !== undefined) keyByHash.set(`${step.agentId}\0${step.name}\0${step.inputHash}`, keyOf(step))
      }
    }
    return keyByHash.get(`${p.agentId}\0${p.name}\0${p.inputHash}`) ?? `#${p.inputHash}`
  }
  /** The executed call whose record each place holds, and the last call that put or used it. */
  const recordOf = new Map<Slot, Step.Encoded>()
  const lastCall = new Map<Slot, Step.Encoded>()
  let segment = -1
  let segmentEnd = -Infinity
  // the calls of each key counted in the current attempt, by the key's places
  let occurrences = new Map<KeyCalls, number>()
  for (const { pending, seq, step } of calls) {
    while (seq >= segmentEnd) {
      segmentEnd = segments[++segment]![1]
      occurrences = new Map()
    }
    const agentId = step?.agentId ?? pending!.agentId
    const name = step?.name ?? pending!.name
    const agentName = names.get(agentId) ?? ""
    const key = keyCallsOf(timeline, agentName, name, step !== undefined ? keyOf(step) : keyOfPending(pending!))
    const counted = occurrences.get(key) ?? 0
    const occurrence = step?.occurrence ?? pending?.occurrence ?? counted
    if (occurrence + 1 > counted) occurrences.set(key, occurrence + 1)
    if (step === undefined) {
      placeAt(key, occurrence, {
        id: "",
        runId: checkpoint.runId,
        hash: pending!.inputHash,
        input: "null",
        output: null,
        outputRedacted: false,
        replayable: false,
        seq,
        consumed: false
      })
      continue
    }
    const existing = key.slots[occurrence]
    if (step.replayed && existing !== undefined) {
      if (nested) lastCall.set(existing, step)
      continue
    }
    const slot = slotOf(step, step.status === "completed" && Checkpoint.covers(checkpoint.covered, seq))
    placeAt(key, occurrence, slot)
    if (nested) {
      recordOf.set(slot, step)
      lastCall.set(slot, step)
    }
  }
  if (nested) absorb(timeline, checkpoint.runId, calls, recordOf, lastCall)
}

/**
 * Takes the calls inside replayable records out of the timeline: a call inside one of them is not
 * a call of its own, nor is a record replayed inside one of them.
 */
const absorb = (
  timeline: Timeline,
  runId: string,
  calls: ReadonlyArray<Call>,
  recordOf: ReadonlyMap<Slot, Step.Encoded>,
  lastCall: ReadonlyMap<Slot, Step.Encoded>
): void => {
  const byId = new Map<string, Step.Encoded>()
  for (const { step } of calls) if (step !== undefined) byId.set(step.id, step)
  const records = new Set<string>()
  for (const [slot, step] of recordOf) if (slot.replayable) records.add(step.id)
  const insideRecord = (step: Step.Encoded): boolean => {
    for (let parent = step.parentId; parent != null; parent = byId.get(parent)?.parentId) {
      if (records.has(parent)) return true
    }
    return false
  }
  const absorbed = new Set<number>()
  for (const step of byId.values()) {
    const inside = step.replayedInside
    if (inside === undefined || inside.length === 0 || !(records.has(step.id) || insideRecord(step))) continue
    for (const [from, to] of inside) for (let seq = from; seq < to; seq++) absorbed.add(seq)
  }
  for (const steps of timeline.values()) {
    for (const keys of steps.values()) {
      for (const calls of keys.values()) {
        const kept = calls.slots.filter((slot) => {
          if (slot.runId === runId && absorbed.has(slot.seq)) return false
          const step = lastCall.get(slot)
          return step === undefined || !insideRecord(step)
        })
        if (kept.length !== calls.slots.length) calls.slots = kept
      }
    }
  }
}

/** The steps in `seq` order: as every backend lists them, else a sorted copy. */
const inSeqOrder = (steps: ReadonlyArray<Step.Encoded>): ReadonlyArray<Step.Encoded> => {
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]!.seq < steps[i - 1]!.seq) return [...steps].sort((a, b) => a.seq - b.seq)
  }
  return steps
}

/** The first few covered sequence numbers that have no stored step (`steps` in `seq` order). */
const missingSeqs = (covered: Checkpoint.Ranges, steps: ReadonlyArray<Step.Encoded>): Array<number> => {
  const missing: Array<number> = []
  let at = 0
  for (const [from, to] of covered) {
    while (at < steps.length && steps[at]!.seq < from) at++
    for (let seq = from; seq < to && missing.length < 5; seq++) {
      if (at < steps.length && steps[at]!.seq === seq) {
        while (at < steps.length && steps[at]!.seq === seq) at++
      } else missing.push(seq)
    }
  }
  return missing
}
