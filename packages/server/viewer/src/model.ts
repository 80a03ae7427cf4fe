/** What the run page derives from the loaded records: lanes, attempts, replay, nesting and the time scale. */
import {
  analyseReplay,
  type Attempt,
  firstSeqByAgent,
  type Lane,
  lanesOf,
  placeOf,
  type ReplayAnalysis,
  replayedCount as countReplayed
} from "../../src/internal/runModel.js"
import type { Summary } from "./api.js"
import { now } from "./format.js"
import { type Crash, crashesOf } from "./marks.js"
import { makeScale, type Scale } from "./scale.js"
import type { RunData } from "./useRun.js"

export type { Attempt, Lane } from "../../src/internal/runModel.js"

/** Where a step's agent sits. */
export interface Place {
  readonly lane: Lane
  readonly attempt: Attempt
}

/** The page's model of a run. */
export interface View {
  readonly lanes: ReadonlyArray<Lane>
  readonly places: ReadonlyMap<string, Place>
  readonly stepsByLane: ReadonlyMap<string, ReadonlyArray<Summary>>
  /** The loaded steps by id: a nested step's parent. */
  readonly byId: ReadonlyMap<string, Summary>
  readonly replay: ReplayAnalysis
  /** Where a process died and a resume found the agents it left running. */
  readonly crashes: ReadonlyArray<Crash>
  readonly scale: Scale
  /** Runs with more steps than this draw lanes on a canvas instead of one element per step. */
  readonly canvas: boolean
  readonly replayedCount: number
}

/** The most steps drawn as elements in the lanes. */
export const maxBarElements = 2000

/** The deepest nesting a step row is indented for. */
const maxIndent = 8

/**
 * How deep a step is nested: 0 at the top of its agent, 1 inside another step, and so on, up to
 * `maxIndent` (a parent not loaded yet ends the count).
 */
export const depthOf = (step: Summary, byId: ReadonlyMap<string, Summary>): number => {
  let depth = 0
  for (let parent = step.parentId; parent != null && depth < maxIndent; parent = byId.get(parent)?.parentId) depth++
  return depth
}

/**
 * Start and end of an attempt: its record, widened to its steps. An interrupted attempt ends
 * with its last step (its record's end is when a resume found it cut off, not when it stopped).
 */
export const attemptSpan = (attempt: Attempt, steps: ReadonlyArray<Summary> | undefined, end: number): [number, number] => {
  let from = attempt.agent.startedAt
  let to = attempt.agent.status === "interrupted" ? from : attempt.agent.endedAt ?? end
  for (const step of steps ?? []) {
    if (step.agentId !== attempt.agent.id) continue
    from = Math.min(from, step.startedAt)
    to = Math.max(to, step.endedAt ?? step.startedAt)
  }
  return [from, to]
}

/** Builds the view of the data loaded so far. */
export const viewOf = (data: RunData, scaleOf?: Scale): View => {
  const { run, agents, steps, checkpoints } = data
  const lanes = lanesOf(agents, firstSeqByAgent(steps))
  const places = placeOf(lanes)
  const stepsByLane = new Map<string, Array<Summary>>()
  const byId = new Map<string, Summary>()
  let replayedCount = 0
  for (const step of steps) {
    byId.set(step.id, step)
    const lane = places.get(step.agentId)?.lane.name ?? "?"
    if (step.replayed) replayedCount++
    const list = stepsByLane.get(lane)
    if (list === undefined) stepsByLane.set(lane, [step])
    else list.push(step)
  }
  const replay = analyseReplay(steps, agents, checkpoints, run.replays)
  for (const resume of replay.resumes) if (resume.replayed !== undefined) replayedCount += countReplayed(resume.replayed)
  // a stalled run ends, for the drawing, where its owner was last seen
  const end = Math.max(run.endedAt ?? run.stalled?.lastSeenAt ?? now(), ...agents.map((a) => a.endedAt ?? 0), steps.at(-1)?.endedAt ?? 0)
  const canvas = steps.length > maxBarElements || !data.complete
  // busy time: steps, checkpoints, agents' starts and ends (an agent waiting between its steps
  // is idle: the lanes show where it worked); until a big run is loaded, its agents' spans (so the
  // scale does not move at every page)
  const busy: Array<[number, number]> = []
  for (const agent of agents) {
    const ended = agent.status !== "interrupted" && agent.endedAt !== null
    busy.push([agent.startedAt, agent.startedAt])
    if (ended) busy.push([agent.endedAt!, agent.endedAt!])
    if (!data.complete) busy.push([agent.startedAt, agent.endedAt ?? end])
  }
  for (const c of checkpoints) busy.push([c.createdAt, c.createdAt])
  if (data.complete) for (const s of steps) busy.push([s.startedAt, s.endedAt ?? s.startedAt])
  if (run.status === "running") busy.push([end, end])
  const scale = scaleOf ?? makeScale(run.startedAt, end, busy)
  return {
    lanes,
    places,
    stepsByLane,
    byId,
    replay,
    crashes: crashesOf(agents, steps, checkpoints, replay.resumes),
    scale,
    canvas,
    replayedCount
  }
}
