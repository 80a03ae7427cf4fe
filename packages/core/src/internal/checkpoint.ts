/**
 * Checkpoints of a run in this process: capture, the covered ranges (watermark), restore, the
 * timeline of recorded calls a checkpoint leads to, loading and decoding stored checkpoints.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as Checkpoint from "../Checkpoint.js"
import { type BackendError, CheckpointError, type SerializationError } from "../Errors.js"
import type { AgentId } from "../Ids.js"
import type { MultiRunClientService } from "../MultiRunClient.js"
import type * as Step from "../StepRecord.js"
import { bytesOver, canonicalJson, checkText } from "./canonical.js"
import { holdsMarker } from "./redaction.js"
import { place, type Slot, type Timeline } from "./replay.js"
import type { RunState } from "./runState.js"
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

/** The watermark: earlier coverage plus this segment's sequence numbers minus running steps. */
export const covered = (run: RunState): Checkpoint.Ranges => {
  const ranges: Array<readonly [number, number]> = [...run.baseCovered]
  let from = run.segmentStart
  for (const step of run.inFlight.list()) {
    const seq = step.info.seq
    if (seq < from) continue
    if (seq > from) ranges.push([from, seq])
    from = seq + 1
  }
  if (run.nextSeq > from) ranges.push([from, run.nextSeq])
  return ranges
}

/** Whether `recorded` was taken on the way to `target`: its attempts are a prefix of target's. */
const onTimelineOf = (recorded: Checkpoint.Checkpoint, target: Checkpoint.Checkpoint): boolean => {
  const mine = recorded.segments
  const theirs = target.segments
  if (mine === undefined || theirs === undefined || mine.length === 0 || mine.length > theirs.length) return false
  const last = mine.length - 1
  for (let i = 0; i < last; i++) {
    if (mine[i]![0] !== theirs[i]![0] || mine[i]![1] !== theirs[i]![1]) return false
  }
  return mine[last]![0] === theirs[last]![0] && mine[last]![1] <= theirs[last]![1]
}

/**
 * The checkpoints a resumed program reaches again: those of the run taken on the way to the
 * checkpoint it resumes from, in order. While the resumed attempt has executed nothing, a
 * `checkpoint(name)` returns the next of these with that name instead of writing a copy.
 */
export const reachedAgain = (
  all: ReadonlyArray<Checkpoint.Checkpoint>,
  target: Checkpoint.Checkpoint
): Array<Checkpoint.Checkpoint> => all.filter((recorded) => onTimelineOf(recorded, target))

/** The error of a checkpoint over the run's `maxValueSize`. */
const tooLarge = (run: RunState, name: string, size: number) =>
  new CheckpointError({
    reason: "TooLarge",
    runId: run.runId,
    detail: `checkpoint "${name}" is ${size.toLocaleString("en")} bytes of UTF-8, over the limit of ` +
      `${run.maxValueSize.toLocaleString("en")} (the run's \`maxValueSize\`); keep large data out of \`extraState\` ` +
      "and state (store it elsewhere and keep a reference), or raise `maxValueSize` in the run options " +
      "(a server accepts requests up to its `--max-body-bytes`, 5 MiB by default)"
  })

/**
 * Takes a checkpoint of the run: state of the run and of every agent, `extraState`, totals, the
 * watermark, the attempts and the steps in flight. The records of the run and its live agents
 * are written first and the checkpoint is saved after the backend made every earlier write
 * durable. A resumed program that reaches a recorded checkpoint before executing anything gets
 * that checkpoint back, and nothing is written.
 */
export const capture = (
  run: RunState,
  name: string,
  options: { readonly extraState?: unknown } | undefined,
  agentId: AgentId | null
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> =>
  Effect.suspend((): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> => {
    const badName = checkText(name, "checkpoint name")
    if (badName !== undefined) return Effect.fail(badName)
    let extraState: unknown = null
    if (options?.extraState !== undefined) {
      const text = canonicalJson(options.extraState, "extraState")
      if (typeof text !== "string") return Effect.fail(text)
      extraState = JSON.parse(text)
    }
    const again = run.reachedAgain(name)
    if (again !== undefined) return Effect.succeed(again)
    const agents: Array<Checkpoint.AgentSnapshot> = run.live.map((agent) => agent.snapshot())
    for (const snapshots of run.restored.values()) agents.push(...snapshots)
    const inFlight = run.inFlight.list()
    const pending: Array<Checkpoint.PendingStep> = [...run.basePending]
    for (const step of inFlight) {
      if (step.info.seq < run.segmentStart) continue
      const { agent, info, occurrence } = step
      pending.push(
        occurrence === null
          ? { seq: info.seq, agentId: agent.id, name: info.name, inputHash: info.inputHash }
          : { seq: info.seq, agentId: agent.id, name: info.name, inputHash: info.inputHash, occurrence }
      )
    }
    const encoded: Checkpoint.Encoded = {
      id: run.newId(),
      runId: run.runId,
      name,
      version: run.checkpointVersion + 1,
      agentId,
      createdAt: run.now(),
      runState: run.state.snapshot(),
      agents,
      extraState,
      covered: covered(run),
      ...(run.baseSegments === undefined
        ? {}
        : { segments: [...run.baseSegments, [run.segmentStart, run.nextSeq] as const] }),
      pending,
      ...Totals.toRecord(run.totals)
    }
    // refused before anything is written, and before its version is taken
    const size = bytesOver(JSON.stringify(encoded), run.maxValueSize)
    if (size !== undefined) return Effect.fail(tooLarge(run, name, size))
    run.checkpointVersion = encoded.version
    const agentWrites = run.live.filter((agent) => !agent.ended).map((agent) => run.client.writeAgent(agent.record()))
    return Effect.all([...agentWrites, run.client.writeRun(run.record())], { discard: true }).pipe(
      Effect.zipRight(run.client.saveCheckpoint(encoded)),
      Effect.zipRight(toCheckpoint(encoded, encoded.id))
    )
  })

/** How the run continues from a checkpoint: what `RunState.continueFrom` applies. */
export interface Plan {
  readonly checkpoint: Checkpoint.Checkpoint
  readonly timeline: Timeline
  /** The first sequence number of the new attempt: above every stored step. */
  readonly nextSeq: number
  /** The highest checkpoint version of the run known to exist. */
  readonly latestVersion: number
  /** Recorded checkpoints the program reaches again (a resume in a new process), in order. */
  readonly reachedAgain: ReadonlyArray<Checkpoint.Checkpoint>
  /**
   * What the run's executed steps cost so far, read from the store: the totals a resume in a new
   * process continues from. Absent for a restore in this process (the run's totals go on as they
   * are) and for a fork (a new run has spent nothing yet).
   */
  readonly spent?: Totals.Spent | undefined
}

/**
 * Restores a checkpoint of this run in this process: decides the drift of the replay it leaves,
 * flushes, loads the lineage and continues the run from it.
 */
export const restore = (
  run: RunState,
  checkpoint: Checkpoint.Checkpoint
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> =>
  Effect.gen(function*() {
    yield* run.decideDrift
    yield* run.client.flush
    const { maxSeq, timeline } = yield* lineage(run.client, checkpoint, run.forkedFrom)
    run.continueFrom({
      checkpoint,
      timeline,
      nextSeq: Math.max(maxSeq, run.nextSeq - 1) + 1,
      latestVersion: run.checkpointVersion,
      reachedAgain: []
    })
    return checkpoint
  })

/** `restoreFromCheckpoint`: a checkpoint of this run only; another run's is `WrongRun`. */
export const restoreById = (
  run: RunState,
  checkpointId: string
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> =>
  Effect.flatMap(loadCheckpoint(run.client, checkpointId), (checkpoint) =>
    checkpoint.runId === run.runId
      ? restore(run, checkpoint)
      : Effect.fail(
        new CheckpointError({
          reason: "WrongRun",
          checkpointId,
          runId: run.runId,
          detail: `the checkpoint belongs to run ${checkpoint.runId}; ` +
            `start a new run with \`withRun({ forkFrom })\` to continue from another run's checkpoint`
        })
      ))
