/**
 * The machinery behind `withRun`, `withAgent` and `step`: mutable run and agent handles that
 * live for one run in one process. Everything here runs synchronously between effects, so the
 * counters and totals are exact under any number of concurrent fibers.
 */
import { Cause, Clock, Context, Effect, Either, Exit, type Fiber, FiberRef, Option, ParseResult, Schema } from "effect"
import * as Agent from "../Agent.js"
import { AgentContext, type AgentContextService, type AgentOptions } from "../AgentContext.js"
import * as Checkpoint from "../Checkpoint.js"
import { BackendError, CheckpointError, ReplayError, SerializationError } from "../Errors.js"
import { type AgentId, type CheckpointId, Ids, type RunId, type StepId } from "../Ids.js"
import type { ErrorInfo, Metadata, Status, Totals } from "../Model.js"
import { MultiRunClient, type MultiRunClientService } from "../MultiRunClient.js"
import * as Run from "../Run.js"
import { type DriftPolicy, RunContext, type RunContextService, type RunOptions } from "../RunContext.js"
import * as Step from "../Step.js"
import { StepContext, type StepContextService, type StepInfo, type Usage } from "../StepContext.js"
import { canonicalJson, firstDifference, sha256 } from "./canonical.js"
import { type Recorded, ReplayCache } from "./replay.js"
import { bracketExit } from "./lifecycle.js"
import { StateStore } from "./state.js"

/** Options of `step(...)`, see `Step.StepOptions`. */
export interface StepOptions<A> {
  readonly kind?: Step.StepKind | undefined
  readonly input?: unknown
  readonly inputSchema?: Schema.Schema<any, any> | undefined
  readonly output?: Schema.Schema<A, any> | undefined
  readonly usage?: ((result: A) => Usage) | undefined
  readonly onDrift?: DriftPolicy | undefined
}

interface MutableTotals {
  stepCount: number
  tokensUsed: number
  costUsd: number
  latencyMs: number
}

const zeroTotals = (): MutableTotals => ({ stepCount: 0, tokensUsed: 0, costUsd: 0, latencyMs: 0 })

const copyTotals = (totals: Totals): MutableTotals => ({
  stepCount: totals.stepCount,
  tokensUsed: totals.tokensUsed,
  costUsd: totals.costUsd,
  latencyMs: totals.latencyMs
})

/** What is kept of an error or a defect. */
export const errorInfo = (error: unknown): ErrorInfo => {
  const tag = typeof error === "object" && error !== null && typeof (error as { _tag?: unknown })._tag === "string"
    ? (error as { _tag: string })._tag
    : null
  const message = error instanceof Error
    ? error.message
    : typeof error === "string"
    ? error
    : typeof (error as { message?: unknown } | null)?.message === "string"
    ? (error as { message: string }).message
    : (() => {
      const text = canonicalJson(error, "error")
      return typeof text === "string" ? text : String(error)
    })()
  return { tag, message }
}

const causeInfo = (cause: Cause.Cause<unknown>): ErrorInfo =>
  Cause.isInterruptedOnly(cause) ? { tag: "Interrupted", message: "interrupted" } : errorInfo(Cause.squash(cause))

/** A result as stored: canonical JSON text, `null` for nothing, or a visible marker when not JSON. */
const resultText = (result: unknown): string | null => {
  if (result === undefined) return null
  const text = canonicalJson(result, "result")
  return typeof text === "string" ? text : JSON.stringify({ $unserializable: text.message })
}

const exitStatus = (exit: Exit.Exit<unknown, unknown>): Status =>
  Exit.isSuccess(exit) ? "completed" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failed"

const serializationFromParse = (path: string, error: ParseResult.ParseError) =>
  new SerializationError({
    path,
    found: "a value its schema cannot encode",
    detail: ParseResult.TreeFormatter.formatErrorSync(error)
  })

const decodeRun = Schema.decodeSync(Run.Run)
const decodeAgent = Schema.decodeSync(Agent.Agent)
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

/** Every completed, non-replayed step of a checkpoint's lineage, oldest first. */
const lineage = (
  client: MultiRunClientService,
  checkpoint: Checkpoint.Checkpoint,
  forkedFrom?: string | null
): Effect.Effect<{ readonly recorded: Array<Recorded>; readonly maxSeq: number }, CheckpointError | BackendError> =>
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
    for (const step of steps) {
      if (step.seq > maxSeq) maxSeq = step.seq
      if (step.status !== "completed" || step.replayed || !Checkpoint.covers(checkpoint.covered, step.seq)) continue
      recorded.push({
        agentName: names.get(step.agentId) ?? "",
        name: step.name,
        hash: step.inputHash,
        input: step.input,
        output: step.output,
        consumed: false
      })
    }
    return { recorded, maxSeq }
  })

/** Default limit on a step's canonical input or output, in characters. */
export const defaultMaxValueSize = 4 * 1024 * 1024

/** The error for a value over the size limit: refused at the step, never dropped later. */
const tooLarge = (path: string, size: number, limit: number) =>
  new SerializationError({
    path,
    found: `a value of ${size.toLocaleString("en")} characters, over the limit of ${limit.toLocaleString("en")}`,
    detail: "store large payloads elsewhere and pass a reference, or raise `maxValueSize` in the run options"
  })

/** A run in this process. */
export class RunImpl implements RunContextService {
  status: Status = "running"
  endedAt: number | null = null
  result: string | null = null
  error: ErrorInfo | null = null
  ended = false
  totals: MutableTotals = zeroTotals()
  readonly state = new StateStore("run")
  nextSeq = 0
  segmentStart = 0
  baseCovered: Checkpoint.Ranges = []
  /** Steps executing now, by sequence number. */
  readonly inFlight = new Map<number, StepImpl>()
  checkpointVersion = 0
  replay: ReplayCache | undefined = undefined
  readonly driftList: Array<ReplayError> = []
  live: Array<AgentImpl> = []
  restored = new Map<string, Array<Checkpoint.AgentSnapshot>>()
  maxValueSize = defaultMaxValueSize
  private defaultAgentEffect: Effect.Effect<AgentImpl, BackendError> | undefined

  constructor(
    readonly runId: RunId,
    readonly name: string,
    readonly metadata: Metadata,
    readonly tags: ReadonlyArray<string>,
    readonly parentRunId: RunId | null,
    readonly forkedFrom: CheckpointId | null,
    readonly startedAt: number,
    readonly client: MultiRunClientService,
    readonly clock: Clock.Clock,
    readonly ids: Ids["Type"],
    readonly onDrift: DriftPolicy
  ) {}

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  newId<A extends string>(): A {
    return this.ids.next(this.now()) as A
  }

  record(): Run.Encoded {
    return {
      id: this.runId,
      name: this.name,
      status: this.status,
      metadata: this.metadata,
      tags: this.tags,
      parentRunId: this.parentRunId,
      forkedFrom: this.forkedFrom,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      result: this.result,
      error: this.error,
      ...this.totals
    }
  }

  get run() {
    return Effect.sync(() => decodeRun(this.record()))
  }

  get isReplaying() {
    return Effect.sync(() => this.replay !== undefined)
  }

  get agents() {
    return Effect.sync(() => this.live.map((agent) => decodeAgent(agent.record())))
  }

  get drifts() {
    return Effect.sync((): ReadonlyArray<ReplayError> => [...this.driftList])
  }

  readonly setState = this.state.setState as RunContextService["setState"]
  readonly getState = this.state.getState as RunContextService["getState"]

  /** Counts a finished, executed step into the run's totals. */
  addTotals(latencyMs: number, tokensUsed: number, costUsd: number): void {
    this.totals.stepCount++
    this.totals.latencyMs += latencyMs
    this.totals.tokensUsed += tokensUsed
    this.totals.costUsd += costUsd
  }

  /** Creates (or, after a restore, takes over) an agent and writes its record. */
  makeAgent(options: AgentOptions, isDefault: boolean): AgentImpl {
    const claimable = this.restored.get(options.name)
    const index = claimable?.findIndex((snapshot) => snapshot.isDefault === isDefault) ?? -1
    const snapshot = index >= 0 ? claimable!.splice(index, 1)[0] : undefined
    const sameRun = snapshot !== undefined && this.forkedFrom === null
    const agent = new AgentImpl(
      this,
      sameRun ? snapshot.agentId : this.newId<AgentId>(),
      options.name,
      options.agentConfigId ?? null,
      options.metadata ?? {},
      isDefault,
      this.now()
    )
    if (snapshot !== undefined) {
      agent.state.replace(snapshot.state)
      agent.totals = copyTotals(snapshot)
    }
    this.live.push(agent)
    return agent
  }

  readonly startAgent = (options: AgentOptions): Effect.Effect<AgentImpl, SerializationError | BackendError> =>
    Effect.suspend((): Effect.Effect<AgentImpl, SerializationError | BackendError> => {
      const metadata = canonicalJson(options.metadata ?? {}, `agent ${options.name} metadata`)
      if (typeof metadata !== "string") return Effect.fail(metadata)
      const agent = this.makeAgent(options, false)
      return Effect.as(this.client.writeAgent(agent.record()), agent)
    })

  /** The run's default agent, created once, on first use. */
  get defaultAgent(): Effect.Effect<AgentImpl, BackendError> {
    if (this.defaultAgentEffect === undefined) {
      const agent = this.makeAgent({ name: Agent.defaultAgentName }, true)
      const ready = Effect.succeed(agent)
      this.defaultAgentEffect = Effect.zipRight(this.client.writeAgent(agent.record()), ready)
      // later callers need not wait for the write: the record is already on its way
      return Effect.tap(this.defaultAgentEffect, () => Effect.sync(() => this.defaultAgentEffect = ready))
    }
    return this.defaultAgentEffect
  }

  private end(status: Status, result: string | null, error: ErrorInfo | null): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      if (this.ended) return Effect.void
      this.ended = true
      this.status = status
      this.result = result
      this.error = error
      this.endedAt = this.now()
      const open = this.live.filter((agent) => !agent.ended)
      const cutOff = [...this.inFlight.values()].map((step) =>
        step.write("interrupted", null, { tag: "Interrupted", message: "the step was interrupted before it ended" })
      )
      return Effect.all([
        ...cutOff,
        ...open.map((agent) => agent.end(status, null, null)),
        this.client.writeRun(this.record())
      ], { discard: true })
    })
  }

  readonly complete = (result?: unknown) => this.end("completed", resultText(result), null)
  readonly fail = (error: unknown) => this.end("failed", null, errorInfo(error))

  /** Records the run's end from the exit of the program, then flushes. */
  finish(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, BackendError> {
    const end = Exit.isSuccess(exit)
      ? this.end("completed", resultText(exit.value), null)
      : this.end(exitStatus(exit), null, causeInfo(exit.cause))
    return Effect.zipRight(end, this.client.flush)
  }

  /** The watermark: earlier coverage plus this segment's sequence numbers minus running steps. */
  covered(): Checkpoint.Ranges {
    const ranges: Array<readonly [number, number]> = [...this.baseCovered]
    const running = [...this.inFlight.keys()].sort((a, b) => a - b)
    let from = this.segmentStart
    for (const seq of running) {
      if (seq > from) ranges.push([from, seq])
      from = seq + 1
    }
    if (this.nextSeq > from) ranges.push([from, this.nextSeq])
    return ranges
  }

  checkpointFrom(
    name: string,
    options: { readonly extraState?: unknown } | undefined,
    agentId: AgentId | null
  ): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> {
    return Effect.suspend((): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError | SerializationError> => {
      let extraState: unknown = null
      if (options?.extraState !== undefined) {
        const text = canonicalJson(options.extraState, "extraState")
        if (typeof text !== "string") return Effect.fail(text)
        extraState = JSON.parse(text)
      }
      const agents: Array<Checkpoint.AgentSnapshot> = this.live.map((agent) => agent.snapshot())
      for (const snapshots of this.restored.values()) agents.push(...snapshots)
      const encoded: Checkpoint.Encoded = {
        id: this.newId(),
        runId: this.runId,
        name,
        version: ++this.checkpointVersion,
        agentId,
        createdAt: this.now(),
        runState: this.state.snapshot(),
        agents,
        extraState,
        covered: this.covered(),
        ...this.totals
      }
      const agentWrites = this.live.filter((agent) => !agent.ended).map((agent) => this.client.writeAgent(agent.record()))
      return Effect.all([...agentWrites, this.client.writeRun(this.record())], { discard: true }).pipe(
        Effect.zipRight(this.client.saveCheckpoint(encoded)),
        Effect.zipRight(toCheckpoint(encoded, encoded.id))
      )
    })
  }

  readonly checkpoint = (name: string, options?: { readonly extraState?: unknown }) =>
    this.checkpointFrom(name, options, null)

  /** Puts the run at a checkpoint: state, agents, totals, replay cache, sequence numbers. */
  apply(checkpoint: Checkpoint.Checkpoint, recorded: Array<Recorded>, nextSeq: number, latestVersion: number): void {
    const sameRun = checkpoint.runId === this.runId
    this.state.replace(checkpoint.runState)
    this.totals = copyTotals(checkpoint)
    this.nextSeq = nextSeq
    this.segmentStart = nextSeq
    this.baseCovered = sameRun ? checkpoint.covered : []
    this.checkpointVersion = Math.max(this.checkpointVersion, latestVersion)
    // an agent still active takes its checkpointed state in place; every other agent of the
    // checkpoint waits to be taken over by the next `withAgent` of the same name
    this.restored = new Map()
    const claimable = new Set<string>()
    for (const snapshot of checkpoint.agents) {
      const active = sameRun ? this.live.find((agent) => agent.id === snapshot.agentId && !agent.ended) : undefined
      if (active !== undefined) {
        active.state.replace(snapshot.state)
        active.totals = copyTotals(snapshot)
        continue
      }
      claimable.add(snapshot.agentId)
      const list = this.restored.get(snapshot.name) ?? []
      list.push(snapshot)
      this.restored.set(snapshot.name, list)
    }
    this.live = this.live.filter((agent) => !claimable.has(agent.id))
    const cache = new ReplayCache(recorded)
    this.replay = cache.remaining > 0 ? cache : undefined
  }

  /** Loads a checkpoint's lineage and applies it. */
  /**
   * Restores a checkpoint of this run. `latestVersion` is the highest checkpoint version of the
   * run known to exist, so the next checkpoint takes the version after it.
   */
  restore(
    checkpoint: Checkpoint.Checkpoint,
    latestVersion: number
  ): Effect.Effect<Checkpoint.Checkpoint, CheckpointError | BackendError> {
    return Effect.gen(this, function*() {
      yield* this.client.flush
      const { maxSeq, recorded } = yield* lineage(this.client, checkpoint, this.forkedFrom)
      this.apply(checkpoint, recorded, Math.max(maxSeq, this.nextSeq - 1) + 1, latestVersion)
      return checkpoint
    })
  }

  readonly restoreFromCheckpoint = (checkpointId: string) =>
    Effect.flatMap(loadCheckpoint(this.client, checkpointId), (checkpoint) =>
      checkpoint.runId === this.runId
        ? this.restore(checkpoint, this.checkpointVersion)
        : Effect.fail(
          new CheckpointError({
            reason: "WrongRun",
            checkpointId,
            runId: this.runId,
            detail: `the checkpoint belongs to run ${checkpoint.runId}; ` +
              `start a new run with \`withRun({ forkFrom })\` to continue from another run's checkpoint`
          })
        ))
}

/** An agent in this process. */
export class AgentImpl implements AgentContextService {
  status: Status = "running"
  endedAt: number | null = null
  result: string | null = null
  error: ErrorInfo | null = null
  ended = false
  totals: MutableTotals = zeroTotals()
  readonly state: StateStore

  constructor(
    readonly run: RunImpl,
    readonly id: AgentId,
    readonly name: string,
    readonly agentConfigId: string | null,
    readonly metadata: Metadata,
    readonly isDefault: boolean,
    readonly startedAt: number
  ) {
    this.state = new StateStore(`agent:${name}`)
  }

  get runContext(): RunContextService {
    return this.run
  }

  record(): Agent.Encoded {
    return {
      id: this.id,
      runId: this.run.runId,
      name: this.name,
      agentConfigId: this.agentConfigId,
      metadata: this.metadata,
      isDefault: this.isDefault,
      status: this.status,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      result: this.result,
      error: this.error,
      ...this.totals
    }
  }

  snapshot(): Checkpoint.AgentSnapshot {
    return {
      agentId: this.id,
      name: this.name,
      isDefault: this.isDefault,
      state: this.state.snapshot(),
      ...this.totals
    }
  }

  get agent() {
    return Effect.sync(() => decodeAgent(this.record()))
  }

  get isReplaying() {
    return this.run.isReplaying
  }

  get steps() {
    return this.run.client.listSteps(this.run.runId).pipe(
      Effect.map((steps) => steps.filter((step) => step.agentId === this.id)),
      Effect.flatMap((steps) =>
        Effect.mapError(Schema.decodeUnknown(Schema.Array(Step.Step))(steps), (error) =>
          new BackendError({ operation: "listSteps", detail: `stored steps do not decode: ${error.message}` }))
      )
    )
  }

  readonly setState = ((key: any, value: unknown) => this.state.setState(key, value)) as AgentContextService["setState"]
  readonly getState = ((key: any, ...orElse: [] | [unknown]) =>
    this.state.getState(key, ...orElse)) as AgentContextService["getState"]

  end(status: Status, result: string | null, error: ErrorInfo | null): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      if (this.ended) return Effect.void
      this.ended = true
      this.status = status
      this.result = result
      this.error = error
      this.endedAt = this.run.now()
      return this.run.client.writeAgent(this.record())
    })
  }

  readonly complete = (result?: unknown) => this.end("completed", resultText(result), null)
  readonly fail = (error: unknown) => this.end("failed", null, errorInfo(error))

  finish(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, BackendError> {
    return Exit.isSuccess(exit)
      ? this.end("completed", resultText(exit.value), null)
      : this.end(exitStatus(exit), null, causeInfo(exit.cause))
  }

  readonly checkpoint = (name: string, options?: { readonly extraState?: unknown }) =>
    this.run.checkpointFrom(name, options, this.id)

  readonly getStepResult = (name: string, input?: unknown) =>
    Effect.suspend(() => {
      const text = canonicalJson(input === undefined ? null : input, "input")
      if (typeof text !== "string") return Effect.fail(text)
      const hit = this.run.replay?.peek(this.name, name, text)
      return Effect.succeed(
        hit === undefined ? Option.none() : Option.some(hit.output === null ? undefined : JSON.parse(hit.output))
      )
    })

  readonly startStep = (options: { readonly name: string; readonly kind?: Step.StepKind | undefined; readonly input?: unknown }) =>
    Effect.suspend(() => {
      const text = canonicalJson(options.input === undefined ? null : options.input, "input")
      if (typeof text !== "string") return Effect.fail(text)
      return Effect.succeed(manualStep(this.begin(options.name, options.kind ?? "function", text, sha256(text), true)))
    })

  /** Takes a sequence number and starts the clock of an executed step. */
  begin(name: string, kind: Step.StepKind, input: string, inputHash: string, manual: boolean): StepImpl {
    const seq = this.run.nextSeq++
    const startedAt = this.run.now()
    const step = new StepImpl(this, {
      id: this.run.ids.next(startedAt) as StepId,
      name,
      kind,
      seq,
      inputHash,
      startedAtMillis: startedAt
    }, input, manual)
    this.run.inFlight.set(seq, step)
    return step
  }

  /** Records one step: replayed from the cache when possible, executed otherwise. */
  runStep<A, E, R>(
    name: string,
    options: StepOptions<A>,
    body: Effect.Effect<A, E, R>,
    fiber: Fiber.RuntimeFiber<unknown, unknown>
  ): Effect.Effect<A, E | SerializationError | ReplayError | BackendError, R> {
    let input = options.input
    if (options.inputSchema !== undefined) {
      const encoded = Schema.encodeEither(options.inputSchema)(input)
      if (Either.isLeft(encoded)) return Effect.fail(serializationFromParse("input", encoded.left))
      input = encoded.right
    }
    const text = canonicalJson(input === undefined ? null : input, "input")
    if (typeof text !== "string") return Effect.fail(text)
    if (text.length > this.run.maxValueSize) return Effect.fail(tooLarge("input", text.length, this.run.maxValueSize))
    const kind = options.kind ?? "function"
    const replay = this.run.replay
    if (replay !== undefined) {
      const hit = replay.peek(this.name, name, text)
      if (hit !== undefined) {
        replay.consume(hit)
        if (replay.remaining === 0) this.run.replay = undefined
        return this.replayed(hit, name, kind, text, hit.hash, options)
      }
    }
    const hash = sha256(text)
    if (replay !== undefined) {
      const drifted = replay.peekByName(this.name, name)
      if (drifted !== undefined) {
        const error = new ReplayError({
          reason: "InputChanged",
          stepName: name,
          agentName: this.name,
          expectedHash: drifted.hash,
          actualHash: hash,
          path: firstDifference(JSON.parse(drifted.input), JSON.parse(text), "input") ?? "input",
          detail: "the code now calls this step with another input than the one recorded"
        })
        if ((options.onDrift ?? this.run.onDrift) === "fail") return Effect.fail(error)
        replay.consume(drifted)
        if (replay.remaining === 0) this.run.replay = undefined
        this.run.driftList.push(error)
        return Effect.zipRight(
          Effect.logWarning(`multirun: ${error.message} Executing it again (onDrift: "execute").`),
          this.execute(name, kind, text, hash, options, body, fiber)
        )
      }
    }
    return this.execute(name, kind, text, hash, options, body, fiber)
  }

  private replayed<A>(
    hit: Recorded,
    name: string,
    kind: Step.StepKind,
    input: string,
    inputHash: string,
    options: StepOptions<A>
  ): Effect.Effect<A, ReplayError | BackendError> {
    const parsed: unknown = hit.output === null ? undefined : JSON.parse(hit.output)
    let value = parsed as A
    if (options.output !== undefined) {
      const decoded = Schema.decodeUnknownEither(options.output)(parsed)
      if (Either.isLeft(decoded)) {
        return Effect.fail(
          new ReplayError({
            reason: "Decode",
            stepName: name,
            agentName: this.name,
            detail: `the recorded output no longer matches the step's output schema: ${
              ParseResult.TreeFormatter.formatErrorSync(decoded.left)
            }`
          })
        )
      }
      value = decoded.right
    }
    const now = this.run.now()
    const record: Step.Encoded = {
      id: this.run.ids.next(now),
      runId: this.run.runId,
      agentId: this.id,
      name,
      kind,
      seq: this.run.nextSeq++,
      inputHash,
      input,
      output: hit.output,
      error: null,
      status: "completed",
      startedAt: now,
      endedAt: now,
      latencyMs: 0,
      tokensUsed: 0,
      costUsd: 0,
      replayed: true
    }
    return Effect.as(this.run.client.writeStep(record), value)
  }

  private execute<A, E, R>(
    name: string,
    kind: Step.StepKind,
    input: string,
    inputHash: string,
    options: StepOptions<A>,
    body: Effect.Effect<A, E, R>,
    fiber: Fiber.RuntimeFiber<unknown, unknown>
  ): Effect.Effect<A, E | SerializationError | BackendError, R> {
    const step = this.begin(name, kind, input, inputHash, false)
    const slot = slotOf(fiber)
    const previous = slot.current
    slot.current = step
    // no finalizer on the hot path: a step whose fiber is interrupted stays in `inFlight` and is
    // recorded as interrupted when the run ends
    return Effect.matchCauseEffect(body, {
      onSuccess: (value) => {
        slot.current = previous
        return step.finishSuccess(value, options)
      },
      onFailure: (cause) => {
        slot.current = previous
        return Effect.zipRight(Effect.ignoreLogged(step.finishFailure(cause)), Effect.failCause(cause))
      }
    })
  }
}

/** An executed step in this process. */
export class StepImpl {
  tokensUsed = 0
  costUsd = 0
  done = false
  override: { readonly value: unknown } | undefined
  failedWith: ErrorInfo | undefined

  constructor(
    readonly agent: AgentImpl,
    readonly step: StepInfo,
    readonly input: string,
    readonly manual: boolean
  ) {}

  get info(): Effect.Effect<StepInfo> {
    return Effect.succeed(this.step)
  }

  get agentContext(): Effect.Effect<AgentContextService> {
    return Effect.succeed(this.agent)
  }

  addUsage(usage: Usage): Effect.Effect<void> {
    return Effect.sync(() => {
      this.tokensUsed += usage.tokensUsed ?? 0
      this.costUsd += usage.costUsd ?? 0
    })
  }

  complete(result: unknown, usage?: Usage): Effect.Effect<void, SerializationError | BackendError> {
    return Effect.suspend((): Effect.Effect<void, SerializationError | BackendError> => {
      if (usage !== undefined) {
        this.tokensUsed += usage.tokensUsed ?? 0
        this.costUsd += usage.costUsd ?? 0
      }
      if (!this.manual) {
        this.override = { value: result }
        return Effect.void
      }
      const text = result === undefined ? null : canonicalJson(result, "output")
      if (text !== null && typeof text !== "string") return Effect.fail(text)
      return this.write("completed", text, null)
    })
  }

  fail(error: unknown): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      this.failedWith = errorInfo(error)
      return this.manual ? this.write("failed", null, this.failedWith) : Effect.void
    })
  }

  /** Writes the step record once and counts it into the totals. */
  write(status: Status, output: string | null, error: ErrorInfo | null): Effect.Effect<void, BackendError> {
    if (this.done) return Effect.void
    this.done = true
    const run = this.agent.run
    const endedAt = run.now()
    const latencyMs = endedAt - this.step.startedAtMillis
    run.inFlight.delete(this.step.seq)
    const agentTotals = this.agent.totals
    agentTotals.stepCount++
    agentTotals.latencyMs += latencyMs
    agentTotals.tokensUsed += this.tokensUsed
    agentTotals.costUsd += this.costUsd
    run.addTotals(latencyMs, this.tokensUsed, this.costUsd)
    return run.client.writeStep({
      id: this.step.id,
      runId: run.runId,
      agentId: this.agent.id,
      name: this.step.name,
      kind: this.step.kind,
      seq: this.step.seq,
      inputHash: this.step.inputHash,
      input: this.input,
      output,
      error,
      status,
      startedAt: this.step.startedAtMillis,
      endedAt,
      latencyMs,
      tokensUsed: this.tokensUsed,
      costUsd: this.costUsd,
      replayed: false
    })
  }

  finishFailure(cause: Cause.Cause<unknown>): Effect.Effect<void, BackendError> {
    return this.write(Cause.isInterruptedOnly(cause) ? "interrupted" : "failed", null, causeInfo(cause))
  }

  /** Encodes the result, records the step, and returns the value replay will return too. */
  finishSuccess<A>(value: A, options: StepOptions<A>): Effect.Effect<A, SerializationError | BackendError> {
    const result = this.override === undefined ? value : this.override.value as A
    if (options.usage !== undefined) {
      const usage = options.usage(result)
      this.tokensUsed += usage.tokensUsed ?? 0
      this.costUsd += usage.costUsd ?? 0
    }
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

  private failWith(error: SerializationError): Effect.Effect<never, SerializationError | BackendError> {
    return Effect.zipRight(this.write("failed", null, errorInfo(error)), Effect.fail(error))
  }
}

/**
 * The step running in a fiber. Each fiber gets its own slot (children copy their parent's
 * current step when forked), so concurrent steps never see each other's context, and entering a
 * step costs one field write instead of a new context.
 */
class StepSlot {
  constructor(public current: StepImpl | undefined) {}
}

const rootSlot = new StepSlot(undefined)

const currentStep = FiberRef.unsafeMake<StepSlot>(rootSlot, {
  fork: (slot) => new StepSlot(slot.current),
  join: (parent) => parent
})

/** The fiber's own slot; a root fiber still on the shared initial slot gets one of its own. */
const slotOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): StepSlot => {
  const slot = fiber.getFiberRef(currentStep)
  if (slot !== rootSlot) return slot
  const own = new StepSlot(undefined)
  // every runtime fiber is a FiberRuntime, which can set a FiberRef in place
  ;(fiber as unknown as { setFiberRef: <A>(ref: FiberRef.FiberRef<A>, value: A) => void }).setFiberRef(currentStep, own)
  return own
}

const withCurrentStep = <A, E>(f: (step: StepImpl) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.withFiberRuntime((fiber) => {
    const step = fiber.getFiberRef(currentStep).current
    return step === undefined
      ? Effect.dieMessage("StepContext was used outside a step: only the body of `step(...)` may use it")
      : f(step)
  })

/** The `StepContext` every run provides: it acts on the step running in the calling fiber. */
export const stepContext: StepContextService = {
  step: withCurrentStep((step) => step.info),
  agentContext: withCurrentStep((step) => step.agentContext),
  addUsage: (usage) => withCurrentStep((step) => step.addUsage(usage)),
  complete: (result, usage) => withCurrentStep((step) => step.complete(result, usage)),
  fail: (error) => withCurrentStep((step) => step.fail(error))
}

/** A hand-driven step as `StepContext`. */
const manualStep = (step: StepImpl): StepContextService => ({
  step: step.info,
  agentContext: step.agentContext,
  addUsage: (usage) => step.addUsage(usage),
  complete: (result, usage) => step.complete(result, usage),
  fail: (error) => step.fail(error)
})

/** Provides a run to a program, with the `StepContext` of its steps. */
export const provideRun = <A, E, R>(self: Effect.Effect<A, E, R>, run: RunImpl): Effect.Effect<A, E, Exclude<R, RunContext>> =>
  Effect.provide(self, Context.make(RunContext, run as RunContextService).pipe(Context.add(StepContext, stepContext))) as any

/** Creates, resumes or forks a run, as `withRun` options say. */
export const startRun = (
  options: RunOptions
): Effect.Effect<RunImpl, BackendError | CheckpointError | SerializationError, MultiRunClient> =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient
    const clock = yield* Effect.clock
    const ids = yield* Ids
    const onDrift = options.onDrift ?? "execute"
    const metadataText = canonicalJson(options.metadata ?? {}, "run metadata")
    if (typeof metadataText !== "string") return yield* metadataText

    if (options.resume !== undefined) {
      const resume = options.resume
      const runId = "checkpointId" in resume ? (yield* loadCheckpoint(client, resume.checkpointId)).runId : resume.runId
      const stored = yield* client.getRun(runId)
      if (Option.isNone(stored)) {
        return yield* new CheckpointError({
          reason: "NotFound",
          runId,
          detail: "there is no run with this id to resume; check the run id and the backend the program points at"
        })
      }
      const previous = stored.value
      const run = new RunImpl(
        previous.id as RunId,
        previous.name,
        previous.metadata,
        previous.tags,
        previous.parentRunId as RunId | null,
        previous.forkedFrom as CheckpointId | null,
        previous.startedAt,
        client,
        clock,
        ids,
        onDrift
      )
      run.maxValueSize = options.maxValueSize ?? defaultMaxValueSize
      const all = yield* client.listCheckpoints(runId)
      const latestVersion = all.reduce((max, c) => Math.max(max, c.version), 0)
      const chosen = "checkpointId" in resume ? all.find((c) => c.id === resume.checkpointId) : all.at(-1)
      const checkpoint = chosen === undefined ? Option.none() : Option.some(yield* toCheckpoint(chosen, chosen.id))
      if (Option.isSome(checkpoint)) {
        yield* run.restore(checkpoint.value, latestVersion)
      } else {
        const steps = yield* client.listSteps(runId)
        run.nextSeq = run.segmentStart = steps.reduce((max, step) => Math.max(max, step.seq), -1) + 1
        yield* Effect.logInfo(`multirun: run ${runId} has no checkpoint yet; it starts again from the beginning`)
      }
      // agents the previous process left running and the checkpoint does not cover were cut off
      const covered = new Set<string>(Option.match(checkpoint, { onNone: () => [], onSome: (c) => c.agents.map((a) => a.agentId) }))
      const now = clock.unsafeCurrentTimeMillis()
      const cutOff = (yield* client.listAgents(runId)).filter((agent) => agent.status === "running" && !covered.has(agent.id))
      yield* Effect.forEach(cutOff, (agent) =>
        client.writeAgent({
          ...agent,
          status: "interrupted",
          endedAt: now,
          error: { tag: "Interrupted", message: "the process running this agent stopped before a checkpoint covered it" }
        }), { discard: true })
      yield* client.writeRun(run.record())
      return run
    }

    const parent = options.forkFrom === undefined ? undefined : yield* loadCheckpoint(client, options.forkFrom)
    const run = new RunImpl(
      ids.next(clock.unsafeCurrentTimeMillis()) as RunId,
      options.name,
      options.metadata ?? {},
      options.tags ?? [],
      parent?.runId ?? null,
      parent?.id ?? null,
      clock.unsafeCurrentTimeMillis(),
      client,
      clock,
      ids,
      onDrift
    )
    run.maxValueSize = options.maxValueSize ?? defaultMaxValueSize
    if (parent !== undefined) {
      const { recorded } = yield* lineage(client, parent)
      run.apply(parent, recorded, 0, 0)
    }
    // the run's row is durable before the program starts, so a crash at any later point can resume
    yield* client.writeRun(run.record())
    yield* client.flush
    return run
  })

/** `withAgent`: starts an agent, provides it, ends it from the exit. */
export const withAgent = <A, E, R>(
  options: AgentOptions,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | BackendError | SerializationError, Exclude<R, AgentContext> | RunContext> =>
  Effect.flatMap(RunContext, (run) =>
    bracketExit(
      (run as RunImpl).startAgent(options),
      (agent) => Effect.provideService(self, AgentContext, agent),
      (agent, exit) => agent.finish(exit)
    ))

/** `step`: records `body` as a step of the current agent, or of the run's default agent. */
export const step = <A, E, R>(
  name: string,
  options: StepOptions<A>,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SerializationError | ReplayError | BackendError, R | RunContext> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<RunContext>
    const agent = context.unsafeMap.get(AgentContext.key) as AgentImpl | undefined
    if (agent !== undefined) return agent.runStep(name, options, body, fiber)
    const run = Context.get(context, RunContext) as RunImpl
    return Effect.flatMap(run.defaultAgent, (agent) => agent.runStep(name, options, body, fiber))
  })
