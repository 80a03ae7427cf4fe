/**
 * Checkpoints of a run in this process: capture, the covered ranges (watermark), the recorded
 * checkpoints a resumed program reaches again, and restore.
 */
import { Effect } from "effect"
import * as Checkpoint from "../Checkpoint.js"
import { type BackendError, CheckpointError, type SerializationError } from "../Errors.js"
import type { AgentId } from "../Ids.js"
import { canonicalJson } from "./canonical.js"
import { lineage, loadCheckpoint, toCheckpoint } from "./lineage.js"
import type { Timeline } from "./replay.js"
import type { RunState } from "./runState.js"
import { bytesOver, checkText } from "./storable.js"
import * as Totals from "./totals.js"

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
  /** The run already took the checkpoint's state (a resume does, before its program starts). */
  readonly stateTaken?: boolean | undefined
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
