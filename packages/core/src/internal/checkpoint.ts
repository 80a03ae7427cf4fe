/**
 * Checkpoints of a run in this process: capture, the covered ranges (watermark), apply and
 * restore, the lineage of recorded steps, loading and decoding stored checkpoints.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as Checkpoint from "../Checkpoint.js"
import { type BackendError, CheckpointError, type SerializationError } from "../Errors.js"
import type { AgentId } from "../Ids.js"
import type { MultiRunClientService } from "../MultiRunClient.js"
import { canonicalJson } from "./canonical.js"
import { holdsMarker } from "./redaction.js"
import { type Recorded, ReplayCache } from "./replay.js"
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

/** What a checkpoint's lineage holds: the steps replay may return, and the run's highest `seq`. */
export interface Lineage {
  readonly recorded: Array<Recorded>
  readonly maxSeq: number
}

/**
 * Every completed, non-replayed step of a checkpoint's lineage, oldest first: the steps of the
 * runs it was forked from (up to their fork points), then its own run's steps it covers.
 * `forkedFrom` saves a read when the caller knows the run's parent checkpoint.
 */
export const lineage = (
  client: MultiRunClientService,
  checkpoint: Checkpoint.Checkpoint,
  forkedFrom?: string | null
): Effect.Effect<Lineage, CheckpointError | BackendError> =>
  Effect.gen(function*() {
    const [steps, agents] = yield* Effect.all([client.listSteps(checkpoint.runId), client.listAgents(checkpoint.runId)])
    const names = new Map(agents.map((agent) => [agent.id, agent.name]))
    const recorded: Array<Recorded> = []
    const parentId = forkedFrom !== undefined
      ? forkedFrom
      : Option.getOrNull(Option.flatMap(yield* client.getRun(checkpoint.runId), (r) => Option.fromNullable(r.forkedFrom)))
    if (parentId !== null) {
      const parent = yield* loadCheckpoint(client, parentId)
      recorded.push(...(yield* lineage(client, parent)).recorded)
    }
    let maxSeq = -1
    const present = new Set<number>()
    for (const step of steps) {
      present.add(step.seq)
      if (step.seq > maxSeq) maxSeq = step.seq
      if (step.status !== "completed" || step.replayed || !Checkpoint.covers(checkpoint.covered, step.seq)) continue
      recorded.push({
        agentName: names.get(step.agentId) ?? "",
        name: step.name,
        hash: step.inputHash,
        input: step.input,
        output: step.output,
        outputRedacted: step.output !== null && holdsMarker(step.output),
        consumed: false
      })
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
    return { recorded, maxSeq }
  })

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
  const running = run.inFlight.list().map((step) => step.info.seq)
  let from = run.segmentStart
  for (const seq of running) {
    if (seq > from) ranges.push([from, seq])
    from = seq + 1
  }
  if (run.nextSeq > from) ranges.push([from, run.nextSeq])
  return ranges
}

/**
 * Takes a checkpoint of the run: state of the run and of every agent, `extraState`, totals and
 * the watermark. The records of the run and its live agents are written first and the
 * checkpoint is saved after the backend made every earlier write durable.
 */
export const capture = (
  run: RunState,
  name: string,
  options: { readonly extraState?: unknown } | undefined,
  agentId: AgentId | null
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> =>
  Effect.suspend((): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> => {
    let extraState: unknown = null
    if (options?.extraState !== undefined) {
      const text = canonicalJson(options.extraState, "extraState")
      if (typeof text !== "string") return Effect.fail(text)
      extraState = JSON.parse(text)
    }
    const agents: Array<Checkpoint.AgentSnapshot> = run.live.map((agent) => agent.snapshot())
    for (const snapshots of run.restored.values()) agents.push(...snapshots)
    const encoded: Checkpoint.Encoded = {
      id: run.newId(),
      runId: run.runId,
      name,
      version: ++run.checkpointVersion,
      agentId,
      createdAt: run.now(),
      runState: run.state.snapshot(),
      agents,
      extraState,
      covered: covered(run),
      ...Totals.toRecord(run.totals)
    }
    const agentWrites = run.live.filter((agent) => !agent.ended).map((agent) => run.client.writeAgent(agent.record()))
    return Effect.all([...agentWrites, run.client.writeRun(run.record())], { discard: true }).pipe(
      Effect.zipRight(run.client.saveCheckpoint(encoded)),
      Effect.zipRight(toCheckpoint(encoded, encoded.id))
    )
  })

/** Puts the run at a checkpoint: state, agents, totals, replay cache, sequence numbers. */
export const apply = (
  run: RunState,
  checkpoint: Checkpoint.Checkpoint,
  recorded: Array<Recorded>,
  nextSeq: number,
  latestVersion: number
): void => {
  const sameRun = checkpoint.runId === run.runId
  run.state.replace(checkpoint.runState)
  run.totals = Totals.copy(checkpoint)
  run.nextSeq = nextSeq
  run.segmentStart = nextSeq
  run.baseCovered = sameRun ? checkpoint.covered : []
  run.checkpointVersion = Math.max(run.checkpointVersion, latestVersion)
  // an agent still active takes its checkpointed state in place; every other agent of the
  // checkpoint waits to be taken over by the next `withAgent` of the same name
  run.restored = new Map()
  const claimable = new Set<string>()
  for (const snapshot of checkpoint.agents) {
    const active = sameRun ? run.live.find((agent) => agent.id === snapshot.agentId && !agent.ended) : undefined
    if (active !== undefined) {
      active.state.replace(snapshot.state)
      active.totals = Totals.copy(snapshot)
      continue
    }
    claimable.add(snapshot.agentId)
    const list = run.restored.get(snapshot.name) ?? []
    list.push(snapshot)
    run.restored.set(snapshot.name, list)
  }
  run.live = run.live.filter((agent) => !claimable.has(agent.id))
  const cache = new ReplayCache(recorded)
  run.replay = cache.remaining > 0 ? cache : undefined
}

/**
 * Restores a checkpoint of this run: flushes, loads the lineage and applies it. `latestVersion`
 * is the highest checkpoint version of the run known to exist, so the next checkpoint takes the
 * version after it.
 */
export const restore = (
  run: RunState,
  checkpoint: Checkpoint.Checkpoint,
  latestVersion: number
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> =>
  Effect.gen(function*() {
    yield* run.client.flush
    const { maxSeq, recorded } = yield* lineage(run.client, checkpoint, run.forkedFrom)
    apply(run, checkpoint, recorded, Math.max(maxSeq, run.nextSeq - 1) + 1, latestVersion)
    return checkpoint
  })

/** `restoreFromCheckpoint`: a checkpoint of this run only; another run's is `WrongRun`. */
export const restoreById = (
  run: RunState,
  checkpointId: string
): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> =>
  Effect.flatMap(loadCheckpoint(run.client, checkpointId), (checkpoint) =>
    checkpoint.runId === run.runId
      ? restore(run, checkpoint, run.checkpointVersion)
      : Effect.fail(
        new CheckpointError({
          reason: "WrongRun",
          checkpointId,
          runId: run.runId,
          detail: `the checkpoint belongs to run ${checkpoint.runId}; ` +
            `start a new run with \`withRun({ forkFrom })\` to continue from another run's checkpoint`
        })
      ))
