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
import { place, type Slot, type Timeline } from "./replay.js"
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
    let maxSeq = -1
    const present = new Set<number>()
    for (const step of steps) {
      present.add(step.seq)
      if (step.seq > maxSeq) maxSeq = step.seq
    }
    const missing = missingSeqs(checkpoint.covered, present)
    if (missing.length > 0) {
      return yield* new CheckpointError({
        reason: "Corrupt",
        checkpointId: checkpoint.id,
        runId: checkpoint.runId,
        detail: `steps the checkpoint covers are missing from the store (seq ${missing.join(", ")}); ` +
          "they would run again without their recorded results, so the restore stops here"
      })
    }
    if (checkpoint.segments === undefined) legacyTimeline(timeline, steps, names, checkpoint)
    else foldSegments(timeline, steps, names, checkpoint, checkpoint.segments)
    return { timeline, maxSeq, spent: Totals.spent(steps) }
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
    place(timeline, names.get(step.agentId) ?? "", step.name, keyOf(step), Number.MAX_SAFE_INTEGER, slotOf(step, true))
  }
}

/**
 * Folds the calls of each attempt into the timeline, then takes out the calls inside replayable
 * records. A call's occurrence is the one it recorded; a record without one (its step name had
 * nothing to replay in its attempt, or it was written before 0.3 with a record for each replayed
 * call) is counted among the attempt's records of its key.
 */
const foldSegments = (
  timeline: Timeline,
  steps: ReadonlyArray<Step.Encoded>,
  names: ReadonlyMap<string, string>,
  checkpoint: Checkpoint.Checkpoint,
  segments: Checkpoint.Ranges
): void => {
  const bySeq = new Map<number, Step.Encoded>()
  const byId = new Map<string, Step.Encoded>()
  // a call known by its hash only (in flight at a checkpoint) takes the key its text has elsewhere
  const keyByHash = new Map<string, string>()
  for (const step of steps) {
    if (!Checkpoint.covers(segments, step.seq)) continue
    bySeq.set(step.seq, step)
    byId.set(step.id, step)
    keyByHash.set(`${step.agentId}\0${step.name}\0${step.inputHash}`, keyOf(step))
  }
  const pending = new Map(checkpoint.pending.map((p) => [p.seq, p]))
  /** The executed call whose record each place holds, and the last call that put or used it. */
  const recordOf = new Map<Slot, Step.Encoded>()
  const lastCall = new Map<Slot, Step.Encoded>()
  for (const [from, to] of segments) {
    const occurrences = new Map<string, number>()
    for (let seq = from; seq < to; seq++) {
      const step = bySeq.get(seq)
      const inFlight = step === undefined ? pending.get(seq) : undefined
      if (step === undefined && inFlight === undefined) continue
      const agentId = step?.agentId ?? inFlight!.agentId
      const name = step?.name ?? inFlight!.name
      const hash = step?.inputHash ?? inFlight!.inputHash
      const key = step !== undefined ? keyOf(step) : keyByHash.get(`${agentId}\0${name}\0${hash}`) ?? `#${hash}`
      const agentName = names.get(agentId) ?? ""
      const counted = `${agentName}\0${name}\0${key}`
      const occurrence = step?.occurrence ?? inFlight?.occurrence ?? occurrences.get(counted) ?? 0
      occurrences.set(counted, Math.max(occurrences.get(counted) ?? 0, occurrence + 1))
      if (step === undefined) {
        place(timeline, agentName, name, key, occurrence, {
          id: "",
          runId: checkpoint.runId,
          hash,
          input: "null",
          output: null,
          outputRedacted: false,
          replayable: false,
          seq,
          consumed: false
        })
        continue
      }
      const slots = timeline.get(agentName)?.get(name)?.get(key)
      const existing = slots?.[occurrence]
      if (step.replayed && existing !== undefined) {
        lastCall.set(existing, step)
        continue
      }
      const slot = slotOf(step, step.status === "completed" && Checkpoint.covers(checkpoint.covered, seq))
      place(timeline, agentName, name, key, occurrence, slot)
      recordOf.set(slot, step)
      lastCall.set(slot, step)
    }
  }
  // the steps whose records replay returns: a call inside one of them is not a call of its own,
  // nor is a record replayed inside one of them
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
      for (const [key, slots] of keys) {
        const kept = slots.filter((slot) => {
          if (slot.runId === checkpoint.runId && absorbed.has(slot.seq)) return false
          const step = lastCall.get(slot)
          return step === undefined || !insideRecord(step)
        })
        if (kept.length !== slots.length) keys.set(key, kept)
      }
    }
  }
}

/** The first few covered sequence numbers that have no stored step. */
const missingSeqs = (covered: Checkpoint.Ranges, present: ReadonlySet<number>): Array<number> => {
  const missing: Array<number> = []
  for (const [from, to] of covered) {
    for (let seq = from; seq < to && missing.length < 5; seq++) if (!present.has(seq)) missing.push(seq)
  }
  return missing
}
