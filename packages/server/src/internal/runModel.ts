/**
 * What the viewer and the command line derive from a run's records: lanes (agents grouped by
 * name, one attempt per agent record, so the part of an agent cut off by a crash is attempt 1
 * of its lane), resume points, and for replayed steps the original execution. Drift is not
 * derived: replay marks the drifted step's record. Plain functions over plain records (no
 * Effect), also bundled into the browser viewer.
 */

/** The totals of a run or agent record read here (the token split is absent before 0.2). */
export interface TotalsLike {
  readonly stepCount: number
  readonly tokensUsed: number
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
  /** The sum of the steps' known costs; `null` when no step's cost is known but some step's is not. */
  readonly costUsd: number | null
  /** The steps whose cost is unknown (absent before 0.3). */
  readonly unpricedSteps?: number | undefined
  readonly latencyMs: number
}

/**
 * An error as recorded (`ErrorInfo`): since 0.3 with `kind` (`failure`, `defect` or
 * `interruption`) and `data`, the error's own fields.
 */
export interface ErrorLike {
  readonly tag?: string | null | undefined
  readonly message: string
  readonly kind?: string | undefined
  readonly data?: Readonly<Record<string, unknown>> | undefined
}

/** A stalled run's owner and when it was last seen (`Run.Stalled` as read). */
export interface StalledLike {
  readonly owner: string
  readonly lastSeenAt: number
}

/** The fields of a run record read here. */
export interface RunLike extends TotalsLike {
  readonly id: string
  readonly name: string
  readonly status: string
  readonly tags: ReadonlyArray<string>
  readonly parentRunId: string | null
  readonly forkedFrom: string | null
  readonly startedAt: number
  readonly endedAt: number | null
  readonly error: ErrorLike | null
  /** How many calls replay found with a changed input (absent before 0.3). */
  readonly drifts?: number | undefined
  /** Present when the run is stalled: `running`, with its owner gone. */
  readonly stalled?: StalledLike | null | undefined
  /** Each continuation from a checkpoint and the records it replayed (absent before 0.3). */
  readonly replays?: ReadonlyArray<ReplayLike> | undefined
  /** What a fork inherits from its parent run, counted apart; `null` (or absent) when not a fork. */
  readonly inherited?: TotalsLike | null | undefined
}

/** A continuation of a run from a checkpoint, as its run record tells it. */
export interface ReplayLike {
  readonly checkpointId: string
  readonly startedAt: number
  readonly steps: ReadonlyArray<readonly [number, number]>
  readonly inherited: number
}

/** The fields of an agent record read here. */
export interface AgentLike extends TotalsLike {
  readonly id: string
  readonly name: string
  readonly status: string
  readonly isDefault: boolean
  readonly startedAt: number
  readonly endedAt: number | null
  readonly error: ErrorLike | null
}

/**
 * The fields of a step record (or summary) read here. The token split is absent from records
 * written before 0.2; `costUsd` is null when the cost is unknown (a model missing from the price
 * table); `model` is the provider's model id of a model call. `parentId` is the step whose body
 * called this one, and `drift` the JSON path of the first difference when replay found the call's
 * input changed (both absent or null otherwise, and in records written before 0.3).
 */
export interface StepLike {
  readonly id: string
  readonly agentId: string
  readonly name: string
  readonly kind: string
  readonly seq: number
  readonly inputHash: string
  readonly status: string
  readonly startedAt: number
  readonly endedAt: number | null
  readonly latencyMs: number
  readonly tokensUsed: number
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
  readonly costUsd: number | null
  readonly replayed: boolean
  readonly error: ErrorLike | null
  readonly model?: string | null | undefined
  readonly parentId?: string | null | undefined
  readonly drift?: string | null | undefined
}

/** The fields of a checkpoint read here. */
export interface CheckpointLike {
  readonly id: string
  readonly name: string
  readonly version: number
  readonly createdAt: number
  readonly covered: ReadonlyArray<readonly [number, number]>
}

/** One agent record of a lane. */
export interface Attempt {
  readonly number: number
  readonly agent: AgentLike
}

/** The agents of one name: one lane of the timeline, one node of the run tree. */
export interface Lane {
  readonly name: string
  readonly attempts: ReadonlyArray<Attempt>
  readonly stepCount: number
  readonly tokensUsed: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cachedInputTokens: number
  readonly reasoningTokens: number
  /** The sum of the attempts' known costs; `null` when none is known but some is not. */
  readonly costUsd: number | null
  /** The attempts' steps whose cost is unknown. */
  readonly unpricedSteps: number
  readonly latencyMs: number
}

/**
 * Groups agents by name into lanes. Lanes are ordered by their first step (`firstSeq`, when
 * known), then by start; attempts by start.
 */
export const lanesOf = (
  agents: ReadonlyArray<AgentLike>,
  firstSeq: ReadonlyMap<string, number> = new Map()
): Array<Lane> => {
  const byName = new Map<string, Array<AgentLike>>()
  for (const agent of agents) {
    const list = byName.get(agent.name)
    if (list === undefined) byName.set(agent.name, [agent])
    else list.push(agent)
  }
  const lanes: Array<Lane & { readonly order: readonly [number, number] }> = []
  for (const [name, list] of byName) {
    const sorted = [...list].sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1))
    const seqs = sorted.map((a) => firstSeq.get(a.id)).filter((s): s is number => s !== undefined)
    const stepCount = sum(sorted, (a) => a.stepCount)
    const unpricedSteps = sum(sorted, (a) => a.unpricedSteps ?? 0)
    lanes.push({
      name,
      attempts: sorted.map((agent, i) => ({ number: i + 1, agent })),
      stepCount,
      tokensUsed: sum(sorted, (a) => a.tokensUsed),
      inputTokens: sum(sorted, (a) => a.inputTokens ?? 0),
      outputTokens: sum(sorted, (a) => a.outputTokens ?? 0),
      cachedInputTokens: sum(sorted, (a) => a.cachedInputTokens ?? 0),
      reasoningTokens: sum(sorted, (a) => a.reasoningTokens ?? 0),
      // summed in nano-dollars, as the records were
      costUsd: unknownCost(unpricedSteps, sum(sorted, (a) => Math.round((a.costUsd ?? 0) * 1e9))),
      unpricedSteps,
      latencyMs: sum(sorted, (a) => a.latencyMs),
      order: [seqs.length === 0 ? Infinity : Math.min(...seqs), Math.min(...sorted.map((a) => a.startedAt))]
    })
  }
  lanes.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1])
  return lanes.map(({ order: _, ...lane }) => lane)
}

const sum = <A>(items: ReadonlyArray<A>, f: (a: A) => number) => items.reduce((total, item) => total + f(item), 0)

/** A cost summed in nano-dollars, null when nothing known was spent but some cost is unknown (as core's totals). */
const unknownCost = (unpricedSteps: number, nanos: number): number | null =>
  unpricedSteps > 0 && nanos === 0 ? null : nanos / 1e9

/** The first seq of each agent's steps. */
export const firstSeqByAgent = (steps: Iterable<StepLike>): Map<string, number> => {
  const first = new Map<string, number>()
  for (const step of steps) {
    const seen = first.get(step.agentId)
    if (seen === undefined || step.seq < seen) first.set(step.agentId, step.seq)
  }
  return first
}

/** Where an agent sits: its lane and attempt. */
export const placeOf = (lanes: ReadonlyArray<Lane>): Map<string, { readonly lane: Lane; readonly attempt: Attempt }> => {
  const places = new Map<string, { readonly lane: Lane; readonly attempt: Attempt }>()
  for (const lane of lanes) for (const attempt of lane.attempts) places.set(attempt.agent.id, { lane, attempt })
  return places
}

/** A point where the run continued from a checkpoint (a resume in a new process, or a restore). */
export interface Resume {
  readonly seq: number
  readonly at: number
  readonly checkpoint: CheckpointLike | undefined
  /**
   * What it replayed, when the run record says (0.3 on): the run's own records by seq, and how
   * many records of the run it was forked from. Before 0.3 each replayed call had its own step.
   */
  readonly replayed?: { readonly steps: ReadonlyArray<readonly [number, number]>; readonly inherited: number }
}

/** How many records a continuation replayed. */
export const replayedCount = (replayed: NonNullable<Resume["replayed"]>): number =>
  replayed.steps.reduce((sum, [from, to]) => sum + to - from, replayed.inherited)

/** What replay did in a run, as far as the records tell. */
export interface ReplayAnalysis {
  readonly resumes: ReadonlyArray<Resume>
  /** Replayed step id → the earlier executed step whose result it returned. */
  readonly originals: ReadonlyMap<string, StepLike>
}

const covers = (ranges: ReadonlyArray<readonly [number, number]>, seq: number) =>
  ranges.some(([from, to]) => seq >= from && seq < to)

/** The resumes a run record lists, each at the first step it gave a sequence number. */
const resumesOf = (
  steps: ReadonlyArray<StepLike>,
  checkpoints: ReadonlyArray<CheckpointLike>,
  replays: ReadonlyArray<ReplayLike>
): Array<Resume> => {
  const byId = new Map(checkpoints.map((checkpoint) => [checkpoint.id, checkpoint]))
  const sorted = [...steps].sort((a, b) => a.seq - b.seq)
  const after = sorted.length === 0 ? 0 : sorted.at(-1)!.seq + 1
  return replays.map((replay) => ({
    seq: sorted.find((step) => step.startedAt >= replay.startedAt)?.seq ?? after,
    at: replay.startedAt,
    checkpoint: byId.get(replay.checkpointId),
    replayed: { steps: replay.steps, inherited: replay.inherited }
  }))
}

/**
 * Follows the replay cache of the runtime over the recorded steps (in seq order): at each
 * resume the cache holds the completed, executed steps covered by the latest checkpoint taken
 * before it; a replayed step consumes its entry (agent name, step name, input hash); a step
 * marked drifted consumes the first entry left of its agent and step name, the call it stood for.
 * Resumes are found where agents were marked interrupted and where a replayed step has no
 * entry. Steps replayed from a parent run (a fork) have no original here.
 *
 * A run written by 0.3 or later says itself where it continued and what it replayed (`replays`):
 * its resumes are those, and its replayed calls have no steps of their own.
 */
// one walk over the steps in order: the replay cache it simulates is state shared by every branch
export const analyseReplay = (
  steps: ReadonlyArray<StepLike>,
  agents: ReadonlyArray<AgentLike>,
  checkpoints: ReadonlyArray<CheckpointLike>,
  replays: ReadonlyArray<ReplayLike> = []
): ReplayAnalysis => {
  if (replays.length > 0) return { resumes: resumesOf(steps, checkpoints, replays), originals: new Map() }
  const nameOf = new Map(agents.map((agent) => [agent.id, agent.name]))
  const sorted = [...steps].sort((a, b) => a.seq - b.seq)
  const cutOffs = agents
    .filter((agent) => agent.status === "interrupted" && agent.endedAt !== null && agent.error?.tag === "Interrupted")
    .map((agent) => agent.endedAt!)
    .sort((a, b) => a - b)
  const byTime = [...checkpoints].sort((a, b) => a.createdAt - b.createdAt)
  const resumes: Array<Resume> = []
  const originals = new Map<string, StepLike>()
  // per (agent name, step name): every entry in order, and the entries by input hash (queues
  // with a head, entries marked consumed), as the runtime's cache keeps them
  interface Queue {
    readonly items: Array<StepLike>
    head: number
  }
  interface Entries {
    readonly all: Queue
    readonly byHash: Map<string, Queue>
  }
  let cache: Map<string, Entries> | undefined
  let consumed = new Set<string>()
  let remaining = 0
  let nextCutOff = 0
  let streakStarted = false

  const key = (step: StepLike) => `${nameOf.get(step.agentId) ?? ""}\u0000${step.name}`
  const next = (queue: Queue | undefined) => {
    if (queue === undefined) return undefined
    while (queue.head < queue.items.length && consumed.has(queue.items[queue.head]!.id)) queue.head++
    return queue.items[queue.head]
  }
  const start = (index: number, at: number) => {
    const checkpoint = byTime.filter((c) => c.createdAt <= at).at(-1)
    cache = new Map()
    consumed = new Set()
    remaining = 0
    for (let i = 0; i < index; i++) {
      const step = sorted[i]!
      if (step.status !== "completed" || step.replayed) continue
      if (checkpoint !== undefined && !covers(checkpoint.covered, step.seq)) continue
      let entries = cache.get(key(step))
      if (entries === undefined) cache.set(key(step), entries = { all: { items: [], head: 0 }, byHash: new Map() })
      entries.all.items.push(step)
      const queue = entries.byHash.get(step.inputHash)
      if (queue === undefined) entries.byHash.set(step.inputHash, { items: [step], head: 0 })
      else queue.items.push(step)
      remaining++
    }
    if (remaining === 0) cache = undefined
    if (resumes.at(-1)?.seq === sorted[index]!.seq) resumes.pop()
    resumes.push({ seq: sorted[index]!.seq, at, checkpoint })
  }
  const take = (entry: StepLike) => {
    consumed.add(entry.id)
    if (--remaining === 0) cache = undefined
    return entry
  }

  sorted.forEach((step, index) => {
    while (nextCutOff < cutOffs.length && step.startedAt >= cutOffs[nextCutOff]!) {
      start(index, cutOffs[nextCutOff]!)
      nextCutOff++
    }
    if (step.replayed) {
      if (cache === undefined && !streakStarted) {
        start(index, step.startedAt)
        streakStarted = true
      }
      const hit = next(cache?.get(key(step))?.byHash.get(step.inputHash))
      if (hit !== undefined) originals.set(step.id, take(hit))
      return
    }
    streakStarted = false
    if (step.drift == null) return
    const recorded = next(cache?.get(key(step))?.all)
    if (recorded !== undefined) take(recorded)
  })
  return { resumes, originals }
}

/**
 * A run's wall time: from start to end; while it runs, to `now`; once stalled, to when its
 * owner was last seen (it does not run on without an owner).
 */
export const wallMs = (run: RunLike, now: number): number =>
  (run.endedAt ?? run.stalled?.lastSeenAt ?? now) - run.startedAt

/** The status a reader shows: `stalled` for a running run whose owner is gone, else the stored one. */
export const statusOf = (run: RunLike): string => run.stalled != null ? "stalled" : run.status

/** The code that resumes a run in a new process. */
export const resumeCode = (run: RunLike): string =>
  `withRun({ name: ${JSON.stringify(run.name)}, resume: { runId: ${JSON.stringify(run.id)}, latest: true } })`

/** The fields of a checkpoint's state read by {@link stateValue}. */
export interface CheckpointState {
  readonly runState: Readonly<Record<string, unknown>>
  readonly agents: ReadonlyArray<{ readonly name: string; readonly state: Readonly<Record<string, unknown>> }>
  readonly extraState: unknown
}

/**
 * The value of a key of a checkpoint diff (`run.K`, `agent:NAME.K`, `extra`) in a checkpoint;
 * `undefined` when the checkpoint does not hold it.
 */
export const stateValue = (checkpoint: CheckpointState, key: string): unknown => {
  if (key === "extra") return checkpoint.extraState ?? undefined
  if (key.startsWith("run.")) return checkpoint.runState[key.slice(4)]
  for (const agent of checkpoint.agents) {
    const prefix = `agent:${agent.name}.`
    if (key.startsWith(prefix)) return agent.state[key.slice(prefix.length)]
  }
  return undefined
}
