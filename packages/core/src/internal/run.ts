/** Starting a run in this process: create a new one, resume a stored one, or fork a checkpoint. */
import { Duration, Effect, Option } from "effect"
import type * as Checkpoint from "../Checkpoint.js"
import { type BackendError, CheckpointError, RunError, type SerializationError } from "../Errors.js"
import { type CheckpointId, Ids, type RunId } from "../Ids.js"
import * as Lease from "../Lease.js"
import type { Totals as TotalsRecord } from "../Model.js"
import { MultiRunClient, type MultiRunClientService } from "../MultiRunClient.js"
import type { RedactionService } from "../Redaction.js"
import type { RunOptions } from "../RunContext.js"
import type { TelemetryService } from "../Telemetry.js"
import { canonicalJson } from "./canonical.js"
import { checkId, checkText } from "./storable.js"
import { reachedAgain } from "./checkpoint.js"
import { lineage, loadCheckpoint, toCheckpoint } from "./lineage.js"
import { BackgroundRead } from "./backgroundRead.js"
import { acquireLease, keepAlive, ownerToken, release } from "./ownership.js"
import { Redactor } from "./redaction.js"
import { defaultMaxValueSize, RunState } from "./runState.js"
import { RunTelemetry } from "./telemetry.js"
import * as Totals from "./totals.js"

/** A stored result as quoted in a message: at most 80 characters. */
const clip = (text: string): string => text.length <= 80 ? text : `${text.slice(0, 77)}...`

type StartError = BackendError | CheckpointError | SerializationError | RunError

/** The parts of a run's setup that come from the environment and the options, not the record. */
const environment = (
  options: RunOptions,
  telemetry: TelemetryService | undefined,
  redaction: RedactionService | undefined
) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const client = yield* MultiRunClient
    // compiled once per run: a run without redaction writes its records untouched
    const redactor = redaction === undefined ? undefined : new Redactor(redaction)
    return {
      client: redactor === undefined ? client : redactor.client(client),
      redaction: redactor,
      clock,
      // looked up once per run: a run without telemetry never touches a span
      telemetry: telemetry === undefined ? undefined : new RunTelemetry(telemetry, yield* Effect.tracer, clock),
      ids: yield* Ids,
      onDrift: options.onDrift ?? "execute",
      maxValueSize: options.maxValueSize ?? defaultMaxValueSize,
      ttlMs: options.leaseTtl === undefined ? Lease.defaultTtlMs : Math.round(Duration.toMillis(options.leaseTtl))
    } as const
  })

/** Takes the run's lease for this process, or fails with `RunError("Locked")`. */
const acquire = (env: Environment, runId: string, owner = ownerToken()) =>
  acquireLease(env.client, { runId, owner, ttlMs: env.ttlMs })

/**
 * Creates, resumes or forks a run, as `withRun` options say; with a telemetry service, the run's
 * span opens once the run is set up; with a redaction service, every record it writes is redacted.
 * With `readInBackground`, a resume returns once the run is owned and has its checkpoint's state,
 * and reads its steps while the program starts (the caller runs the program beside it: `RunState.reading`).
 */
export const startRun = (
  options: RunOptions,
  telemetry: TelemetryService | undefined,
  redaction: RedactionService | undefined,
  outer: RunId | undefined,
  readInBackground: boolean
): Effect.Effect<RunState, StartError, MultiRunClient> =>
  Effect.gen(function*() {
    const metadataText = canonicalJson(options.metadata ?? {}, "run metadata")
    if (typeof metadataText !== "string") return yield* metadataText
    const tagsText = canonicalJson(options.tags ?? [], "run tags")
    if (typeof tagsText !== "string") return yield* tagsText
    const badName = checkText(options.name, "run name")
    if (badName !== undefined) return yield* badName
    const env = yield* environment(options, telemetry, redaction)
    // before anything is written: a lease out of bounds would leave a new run without an owner
    const target = options.resume === undefined
      ? `(new run ${options.name})`
      : "runId" in options.resume
      ? options.resume.runId
      : options.resume.checkpointId
    const invalid = Lease.invalidTtl(target, env.ttlMs)
    if (invalid !== undefined) return yield* invalid
    const run = yield* options.resume === undefined
      ? create(options, env, outer)
      : resume(options.resume, env, readInBackground)
    yield* keepAlive(run)
    if (run.telemetry !== undefined) yield* run.telemetry.openRun(run, options.resume !== undefined)
    return run
  })

type Environment = Effect.Effect.Success<ReturnType<typeof environment>>

/** A new run, from scratch or (with `forkFrom`) from another run's checkpoint. */
const create = (options: RunOptions, env: Environment, outer: RunId | undefined): Effect.Effect<RunState, StartError> =>
  Effect.gen(function*() {
    const { client, clock, ids } = env
    const parent = options.forkFrom === undefined ? undefined : yield* loadCheckpoint(client, options.forkFrom)
    const now = clock.unsafeCurrentTimeMillis()
    const runId = ids.next(now) as RunId
    const badId = checkId(runId, "run id")
    if (badId !== undefined) return yield* badId
    const owner = ownerToken()
    const run = new RunState({
      ...env,
      // a lease is granted only for a stored run: this one is taken once the run's row is stored,
      // and nothing is written under this placeholder (epoch 0) meanwhile
      lease: { runId, owner, epoch: 0, acquiredAt: now, expiresAt: 0, ttlMs: env.ttlMs },
      runId,
      name: options.name,
      metadata: options.metadata ?? {},
      tags: options.tags ?? [],
      parentRunId: parent?.runId ?? outer ?? null,
      forkedFrom: parent?.id ?? null,
      inherited: parent === undefined ? null : yield* inheritedAt(client, parent),
      startedAt: now
    })
    return yield* releaseOnFailure(run, Effect.gen(function*() {
      if (parent !== undefined) {
        const { timeline } = yield* lineage(client, parent)
        run.continueFrom({ checkpoint: parent, timeline, nextSeq: 0, latestVersion: 0, reachedAgain: [] })
      }
      // the run's row is durable before the program starts, so a crash at any later point can resume
      yield* client.writeRun(run.record())
      yield* client.flush
      run.lease = yield* acquire(env, runId, owner)
    }))
  })

/**
 * What a fork of a checkpoint inherits: the totals of the parent run at the checkpoint, plus what
 * the parent inherited when it is a fork too.
 */
const inheritedAt = (
  client: MultiRunClientService,
  checkpoint: Checkpoint.Checkpoint
): Effect.Effect<TotalsRecord, BackendError> =>
  Effect.map(client.getRun(checkpoint.runId), (parent) => {
    const inherited = Totals.fromRecord(checkpoint)
    const earlier = Option.isSome(parent) ? parent.value.inherited : null
    if (earlier != null) Totals.addTotals(inherited, Totals.fromRecord(earlier))
    return Totals.toRecord(inherited)
  })

/** The rest of a run's setup, after its lease was taken: a failure gives the lease up again. */
const releaseOnFailure = <E>(run: RunState, setup: Effect.Effect<void, E>): Effect.Effect<RunState, E> =>
  Effect.as(Effect.onError(setup, () => release(run)), run)

/**
 * Continues a stored run under its id: from the given checkpoint (loaded and decoded once), from
 * its latest one, or from the beginning when it has none. Agents the previous process left
 * running that the checkpoint does not cover are recorded as interrupted.
 */
const resume = (
  target: NonNullable<RunOptions["resume"]>,
  env: Environment,
  inBackground: boolean
): Effect.Effect<RunState, StartError> =>
  Effect.gen(function*() {
    const { client } = env
    const given = "checkpointId" in target ? yield* loadCheckpoint(client, target.checkpointId) : undefined
    const runId = given?.runId ?? ("runId" in target ? target.runId : "")
    const stored = yield* client.getRun(runId)
    if (Option.isNone(stored)) {
      return yield* new CheckpointError({
        reason: "NotFound",
        runId,
        detail: "there is no run with this id to resume; check the run id and the backend the program points at"
      })
    }
    const previous = stored.value
    const behind = previous.startedAt - env.clock.unsafeCurrentTimeMillis()
    if (behind > 0) {
      yield* Effect.logWarning(
        `multirun: this machine's clock is ${Math.round(behind / 1000)} s behind the start of run ${runId}; ` +
          "its end is stored no earlier than its start"
      )
    }
    if (previous.status === "completed") {
      return yield* new RunError({
        reason: "Completed",
        runId,
        detail: `the run completed${previous.result === null ? "" : ` with the result ${clip(previous.result)}`}, so ` +
          "resuming it would run its steps again; fork it instead: `withRun({ name, forkFrom: checkpointId })` " +
          "with one of its checkpoints (`Checkpoints.list(runId)`)"
      })
    }
    const run = new RunState({
      ...env,
      lease: yield* acquire(env, runId),
      runId: previous.id as RunId,
      name: previous.name,
      metadata: previous.metadata,
      tags: previous.tags,
      parentRunId: previous.parentRunId as RunId | null,
      forkedFrom: previous.forkedFrom as CheckpointId | null,
      inherited: previous.inherited ?? null,
      startedAt: previous.startedAt,
      previous: { drifts: previous.drifts ?? 0, replays: previous.replays ?? [] }
    })
    return yield* releaseOnFailure(run, Effect.gen(function*() {
      const all = yield* Effect.forEach(yield* client.listCheckpoints(runId), (c) => toCheckpoint(c, c.id))
      const checkpoint = given ?? all.at(-1)
      // the program starts with the checkpoint's state, and what needs its steps waits for them
      if (checkpoint !== undefined) run.state.replace(checkpoint.runState)
      const read = readRecords(run, all, checkpoint)
      if (inBackground) run.reading = new BackgroundRead(read)
      else yield* read
    }))
  })

/**
 * What a resume reads of its run's records: the timeline of the checkpoint it continues and what
 * the run spent (from the start when it has none), then records the agents left cut off and the
 * run as running again.
 */
const readRecords = (
  run: RunState,
  all: ReadonlyArray<Checkpoint.Checkpoint>,
  checkpoint: Checkpoint.Checkpoint | undefined
): Effect.Effect<void, BackendError | CheckpointError> =>
  Effect.gen(function*() {
    if (checkpoint !== undefined) {
      yield* run.client.flush
      const { maxSeq, spent, timeline } = yield* lineage(run.client, checkpoint, run.forkedFrom)
      run.continueFrom({
        checkpoint,
        timeline,
        nextSeq: maxSeq + 1,
        latestVersion: all.reduce((max, c) => Math.max(max, c.version), 0),
        reachedAgain: reachedAgain(all, checkpoint),
        spent,
        stateTaken: true
      })
    } else {
      const steps = yield* run.client.listSteps(run.runId)
      run.nextSeq = run.segmentStart = steps.reduce((max, step) => Math.max(max, step.seq), -1) + 1
      run.continueSpending(Totals.spent(steps))
      yield* Effect.logInfo(`multirun: run ${run.runId} has no checkpoint yet; it starts again from the beginning`)
    }
    yield* interruptUncovered(run.client, run, checkpoint)
    yield* run.client.writeRun(run.record())
  })

/** Records as interrupted the agents a previous process left running outside the checkpoint. */
const interruptUncovered = (
  client: MultiRunClientService,
  run: RunState,
  checkpoint: Checkpoint.Checkpoint | undefined
): Effect.Effect<void, BackendError> =>
  Effect.gen(function*() {
    const covered = new Set<string>(checkpoint?.agents.map((agent) => agent.agentId) ?? [])
    const now = run.now()
    const cutOff = (yield* client.listAgents(run.runId)).filter((agent) =>
      agent.status === "running" && !covered.has(agent.id)
    )
    yield* Effect.forEach(cutOff, (agent) =>
      client.writeAgent({
        ...agent,
        // what its executed steps cost, some of them perhaps written after its record
        ...Totals.toRecord(run.spentBy(agent.id)),
        status: "interrupted",
        endedAt: now,
        error: {
          tag: "Interrupted",
          message: "the process running this agent stopped before a checkpoint covered it",
          kind: "interruption"
        }
      }), { discard: true })
  })
