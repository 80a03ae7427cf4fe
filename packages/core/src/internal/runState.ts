/**
 * A run in this process: its record, totals, state, agents, sequence numbers, steps in flight
 * and replay cache, and the `RunContextService` that the run's program sees. Everything here
 * changes synchronously between effects, so counters and totals are exact under any number of
 * concurrent fibers.
 */
import { type Clock, Effect, type Exit, type Fiber, Schema } from "effect"
import * as Agent from "../Agent.js"
import type { AgentContextService, AgentOptions } from "../AgentContext.js"
import type * as Checkpoint from "../Checkpoint.js"
import type { BackendError, ReplayError, SerializationError } from "../Errors.js"
import type { AgentId, CheckpointId, Ids, RunId } from "../Ids.js"
import type * as Lease from "../Lease.js"
import type { Metadata, Totals as TotalsRecord } from "../Model.js"
import type { MultiRunClientService } from "../MultiRunClient.js"
import * as Run from "../Run.js"
import type { DriftPolicy, RunContextService } from "../RunContext.js"
import { AgentState } from "./agent.js"
import type { BackgroundRead } from "./backgroundRead.js"
import { canonicalJson } from "./canonical.js"
import { checkText } from "./storable.js"
import { capture, type Plan, restoreById } from "./checkpoint.js"
import { InFlight } from "./inFlight.js"
import { type Ending, endingOf, errorInfo, resultText } from "./errorInfo.js"
import { fencedClient, type Owned, release } from "./ownership.js"
import type { Redactor } from "./redaction.js"
import { ReplayCache, type Slot } from "./replay.js"
import { SeqRangesBuilder } from "./seqRanges.js"
import { StateStore } from "./state.js"
import { driftError } from "./step.js"
import { interruptedInfo, type StepState } from "./stepState.js"
import type { RunTelemetry } from "./telemetry.js"
import * as Totals from "./totals.js"

const decodeRun = Schema.decodeSync(Run.Run)
const decodeAgent = Schema.decodeSync(Agent.Agent)

/** Default limit on a step's canonical input or output, in characters. */
export const defaultMaxValueSize = 4 * 1024 * 1024

/** What a run is made from: its identity, where it writes, and its policies. */
export interface RunSetup {
  readonly runId: RunId
  readonly name: string
  readonly metadata: Metadata
  readonly tags: ReadonlyArray<string>
  readonly parentRunId: RunId | null
  readonly forkedFrom: CheckpointId | null
  /** What a fork inherits from its parent run (see `Run.inherited`); `null` when not a fork. */
  readonly inherited: typeof TotalsRecord.Encoded | null
  readonly startedAt: number
  readonly client: MultiRunClientService
  /** The run's lease, acquired for this process. */
  readonly lease: Lease.Encoded
  readonly clock: Clock.Clock
  readonly ids: Ids["Type"]
  readonly onDrift: DriftPolicy
  readonly maxValueSize: number
  /** Spans for the run, its agents and steps; `undefined` without a `Telemetry` service. */
  readonly telemetry: RunTelemetry | undefined
  /** The run's redaction rules (its `client` redacts with them); `undefined` without a `Redaction` service. */
  readonly redaction: Redactor | undefined
  /** What the stored run already says of earlier attempts (a resume in a new process). */
  readonly previous?: { readonly drifts: number; readonly replays: ReadonlyArray<typeof Run.Replay.Encoded> } | undefined
}

/** A continuation of the run from a checkpoint in this process, and the records it replayed. */
interface ReplayNow {
  readonly checkpointId: CheckpointId
  readonly startedAt: number
  readonly steps: SeqRangesBuilder
  inherited: number
}

/** A run in this process. */
export class RunState implements Owned {
  readonly runId: RunId
  readonly forkedFrom: CheckpointId | null
  /** The backend, every write fenced with the run's lease epoch. */
  readonly client: MultiRunClientService
  lease: Lease.Encoded
  fenced: BackendError | undefined = undefined
  renewal: Fiber.RuntimeFiber<void> | undefined = undefined
  readonly ids: Ids["Type"]
  readonly onDrift: DriftPolicy
  readonly maxValueSize: number
  readonly telemetry: RunTelemetry | undefined
  ending: Ending | undefined = undefined
  endedAt: number | null = null
  totals: Totals.MutableTotals = Totals.zero()
  readonly state = new StateStore("run")
  nextSeq = 0
  /** The first sequence number of this attempt (the run's start, or its latest restore). */
  segmentStart = 0
  /** What the checkpoint this attempt continues covers. */
  baseCovered: Checkpoint.Ranges = []
  /** The attempts before this one; undefined when the run continues a checkpoint written before 0.3. */
  baseSegments: Checkpoint.Ranges | undefined = []
  /** Steps in flight at the checkpoints this attempt continues. */
  basePending: ReadonlyArray<Checkpoint.PendingStep> = []
  /** Steps executing now, by sequence number. */
  readonly inFlight = new InFlight()
  checkpointVersion = 0
  replay: ReplayCache | undefined = undefined
  /** Recorded checkpoints a resumed program reaches again before it executes anything. */
  private reached: Array<Checkpoint.Checkpoint> = []
  /** Whether a step executed since the run started or was restored. */
  executed = false
  readonly driftList: Array<ReplayError> = []
  /** The continuations from a checkpoint in this process, the current one last. */
  private readonly replaysNow: Array<ReplayNow> = []
  live: Array<AgentState> = []
  /** What each agent of the run spent before this attempt, by agent id: a taken-over agent goes on from it. */
  private spentByAgent: ReadonlyMap<string, Totals.MutableTotals> = new Map()
  /** Agents of a restored checkpoint, by name, waiting for a `withAgent` to take them over. */
  restored = new Map<string, Array<Checkpoint.AgentSnapshot>>()
  private defaultAgentEffect: Effect.Effect<AgentContextService, BackendError> | undefined
  /** The read of a resume's records, while it runs beside the program (see `backgroundRead.ts`). */
  reading: BackgroundRead | undefined = undefined
  /** The run as its program sees it. */
  readonly service: RunContextService

  constructor(readonly setup: RunSetup) {
    this.runId = setup.runId
    this.forkedFrom = setup.forkedFrom
    this.lease = setup.lease
    this.client = fencedClient(setup.client, this)
    this.ids = setup.ids
    this.onDrift = setup.onDrift
    this.maxValueSize = setup.maxValueSize
    this.telemetry = setup.telemetry
    this.service = makeService(this)
  }

  now(): number {
    return this.setup.clock.unsafeCurrentTimeMillis()
  }

  newId<A extends string>(): A {
    return this.ids.next(this.now()) as A
  }

  record(): Run.Encoded {
    const { setup } = this
    return {
      id: this.runId,
      name: setup.name,
      status: this.ending?.status ?? "running",
      metadata: setup.metadata,
      tags: setup.tags,
      parentRunId: setup.parentRunId,
      forkedFrom: this.forkedFrom,
      startedAt: setup.startedAt,
      endedAt: this.endedAt,
      result: this.ending?.result ?? null,
      error: this.ending?.error ?? null,
      drifts: (setup.previous?.drifts ?? 0) + this.driftList.length,
      replays: this.replays(),
      ...Totals.toRecord(this.totals),
      inherited: setup.inherited
    }
  }

  private replays(): ReadonlyArray<typeof Run.Replay.Encoded> {
    const earlier = this.setup.previous?.replays ?? []
    if (this.replaysNow.length === 0) return earlier
    return [
      ...earlier,
      ...this.replaysNow.map((replay) => ({
        checkpointId: replay.checkpointId,
        startedAt: replay.startedAt,
        steps: replay.steps.toRanges(),
        inherited: replay.inherited
      }))
    ]
  }

  /**
   * Notes a record a call returned instead of executing: in the current continuation, and in the
   * executing step the call was made inside (whose record then stands for it).
   */
  noteReplayed(record: Slot, parent: StepState | undefined): void {
    const now = this.replaysNow[this.replaysNow.length - 1]!
    if (record.runId !== this.runId) {
      now.inherited++
      return
    }
    now.steps.add(record.seq)
    parent?.replayedWithin(record.seq)
  }

  /** `f()` once a read of the run's records is over (at once when there is none). */
  afterReading<A, E>(f: () => Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => this.reading === undefined ? f() : this.reading.after(f))
  }

  /** Whether replay still holds records not returned yet. */
  get isReplaying(): boolean {
    return this.replay !== undefined && this.replay.remaining > 0
  }

  /**
   * Continues the run from a checkpoint: state, agents, totals, the replay of its timeline,
   * sequence numbers, and the attempts and steps in flight the next checkpoint carries on.
   */
  continueFrom(plan: Plan): void {
    const { checkpoint } = plan
    const sameRun = checkpoint.runId === this.runId
    if (!plan.stateTaken) this.state.replace(checkpoint.runState)
    // totals are what was executed, over every attempt: a restore does not take back what was paid
    if (plan.spent !== undefined) this.continueSpending(plan.spent)
    else if (sameRun) {
      const spent = new Map(this.spentByAgent)
      for (const agent of this.live) spent.set(agent.id, agent.totals)
      this.spentByAgent = spent
    }
    this.nextSeq = this.segmentStart = plan.nextSeq
    this.baseCovered = sameRun ? checkpoint.covered : []
    this.baseSegments = sameRun ? checkpoint.segments : []
    this.basePending = sameRun ? checkpoint.pending : []
    this.checkpointVersion = Math.max(this.checkpointVersion, plan.latestVersion)
    this.reached = [...plan.reachedAgain]
    this.executed = false
    // an agent still active takes its checkpointed state in place; every other agent of the
    // checkpoint waits to be taken over by the next `withAgent` of the same name
    this.restored = new Map()
    const claimable = new Set<string>()
    for (const snapshot of checkpoint.agents) {
      const active = sameRun ? this.live.find((agent) => agent.id === snapshot.agentId && !agent.ended) : undefined
      if (active !== undefined) {
        active.state.replace(snapshot.state)
        continue
      }
      claimable.add(snapshot.agentId)
      const list = this.restored.get(snapshot.name) ?? []
      list.push(snapshot)
      this.restored.set(snapshot.name, list)
    }
    this.live = this.live.filter((agent) => !claimable.has(agent.id))
    const cache = new ReplayCache(plan.timeline)
    this.replay = cache.remaining > 0 ? cache : undefined
    this.replaysNow.push({ checkpointId: checkpoint.id, startedAt: this.now(), steps: new SeqRangesBuilder(), inherited: 0 })
  }

  /** Continues from what the run's executed steps cost before this process, read from the store. */
  continueSpending(spent: Totals.Spent): void {
    this.totals = Totals.copyOf(spent.total)
    this.spentByAgent = spent.byAgent
  }

  /** What an agent of the run spent before this attempt (a copy, to go on adding to). */
  spentBy(agentId: string): Totals.MutableTotals {
    const spent = this.spentByAgent.get(agentId)
    return spent === undefined ? Totals.zero() : Totals.copyOf(spent)
  }

  /** The recorded checkpoint a resumed program reaches again under this name, if it executed nothing yet. */
  reachedAgain(name: string): Checkpoint.Checkpoint | undefined {
    if (this.executed) return undefined
    const index = this.reached.findIndex((checkpoint) => checkpoint.name === name)
    if (index < 0) return undefined
    return this.reached.splice(0, index + 1)[index]
  }

  /** Reports the drift of the replay so far: recorded calls no call matched, against the calls that took their place. */
  get decideDrift(): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      const replay = this.replay
      if (replay === undefined) return Effect.void
      const drifted = replay.unmatched()
      if (replay.remaining === 0) replay.release()
      if (drifted.length === 0) return Effect.void
      return Effect.forEach(drifted, (drift) => {
        const error = driftError({ ...drift, input: drift.suspect.input })
        this.driftList.push(error)
        return Effect.zipRight(
          Effect.logWarning(`multirun: ${error.message} (executed under onDrift: "execute").`),
          drift.suspect.mark(error.path ?? "input")
        )
      }, { discard: true })
    })
  }

  /** Creates (or, after a restore, takes over) an agent; the caller writes its record. */
  makeAgent(options: AgentOptions, isDefault: boolean): AgentState {
    const claimable = this.restored.get(options.name)
    const index = claimable?.findIndex((snapshot) => snapshot.isDefault === isDefault) ?? -1
    const snapshot = index >= 0 ? claimable!.splice(index, 1)[0] : undefined
    const sameRun = snapshot !== undefined && this.forkedFrom === null
    const agent = new AgentState(this, {
      id: sameRun ? snapshot.agentId : this.newId<AgentId>(),
      name: options.name,
      agentConfigId: options.agentConfigId ?? null,
      metadata: options.metadata ?? {},
      isDefault,
      startedAt: this.now()
    })
    if (snapshot !== undefined) {
      agent.state.replace(snapshot.state)
      if (sameRun) agent.totals = this.spentBy(snapshot.agentId)
    }
    this.live.push(agent)
    return agent
  }

  /** Starts an agent of the run and writes its record. */
  startAgent(options: AgentOptions): Effect.Effect<AgentContextService, SerializationError | BackendError> {
    const unstorable = checkText(options.name, "agent name") ??
      (options.agentConfigId == null ? undefined : checkText(options.agentConfigId, "agent agentConfigId"))
    if (unstorable !== undefined) return Effect.fail(unstorable)
    const metadata = canonicalJson(options.metadata ?? {}, `agent ${options.name} metadata`)
    if (typeof metadata !== "string") return Effect.fail(metadata)
    const agent = this.makeAgent(options, false)
    const written = Effect.as(this.client.writeAgent(agent.record()), agent.service)
    const telemetry = this.telemetry
    if (telemetry === undefined) return written
    return Effect.withFiberRuntime((fiber) => {
      telemetry.openAgent(agent, fiber.currentContext)
      return written
    })
  }

  /** The run's default agent, created once, on first use. */
  defaultAgent(): Effect.Effect<AgentContextService, BackendError> {
    if (this.defaultAgentEffect === undefined) {
      const agent = this.makeAgent({ name: Agent.defaultAgentName }, true)
      this.telemetry?.openAgent(agent, undefined)
      const ready = Effect.succeed(agent.service)
      this.defaultAgentEffect = Effect.zipRight(this.client.writeAgent(agent.record()), ready)
      // later callers need not wait for the write: the record is already on its way
      return Effect.tap(this.defaultAgentEffect, () => Effect.sync(() => this.defaultAgentEffect = ready))
    }
    return this.defaultAgentEffect
  }

  /** Ends the run once: cut-off steps and open agents are recorded, then the run record. */
  end(ending: Ending): Effect.Effect<void, BackendError> {
    return this.afterReading(() => {
      if (this.ending !== undefined) return Effect.void
      this.ending = ending
      this.endedAt = this.now()
      const inFlight = this.inFlight.list()
      this.telemetry?.cutOff(inFlight)
      const cutOff = inFlight.map((step) =>
        step.write("interrupted", null, interruptedInfo)
      )
      const open = this.live.filter((agent) => !agent.ended).map((agent) => agent.end(ending))
      return Effect.all([this.decideDrift, ...cutOff, ...open], { discard: true }).pipe(
        Effect.zipRight(Effect.suspend(() => this.client.writeRun(this.record())))
      )
    })
  }

  /** Records the run's end from the exit of its program, flushes the backend, releases the lease. */
  finish(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, BackendError> {
    // a resume whose records could not be read leaves the stored run as it was
    const finished = this.reading?.failed === true
      ? release(this)
      : Effect.zipRight(this.end(endingOf(exit)), this.client.flush).pipe(Effect.ensuring(release(this)))
    const telemetry = this.telemetry
    return telemetry === undefined ? finished : Effect.ensuring(finished, Effect.sync(() => telemetry.closeRun(this, exit)))
  }
}

/**
 * The run's service. Its state is there from the start; the rest waits for the records a resume
 * reads in the background (at once for any other run).
 */
const makeService = (run: RunState): RunContextService => ({
  runId: run.runId,
  client: run.client,
  run: run.afterReading(() => Effect.succeed(decodeRun(run.record()))),
  isReplaying: run.afterReading(() => Effect.succeed(run.isReplaying)),
  agents: run.afterReading(() => Effect.succeed(run.live.map((agent) => decodeAgent(agent.record())))),
  drifts: run.afterReading(() => Effect.succeed<ReadonlyArray<ReplayError>>([...run.driftList])),
  setState: run.state.setState as RunContextService["setState"],
  getState: run.state.getState as RunContextService["getState"],
  deleteState: run.state.deleteState,
  defaultAgent: run.afterReading(() => run.defaultAgent()),
  startAgent: (options) => run.afterReading(() => run.startAgent(options)),
  complete: (result) => run.end({ status: "completed", result: resultText(result), error: null }),
  fail: (error) => run.end({ status: "failed", result: null, error: errorInfo(error) }),
  checkpoint: (name, options) => run.afterReading(() => capture(run, name, options, null)),
  restoreFromCheckpoint: (checkpointId) => run.afterReading(() => restoreById(run, checkpointId))
})
