/**
 * What the run page marks besides the steps: where an agent was at work (its active spans), where
 * a process died (a crash: a resume found agents it had left running), and whether an attempt was
 * still running when the run stalled.
 */
import type { AgentLike, CheckpointLike, Resume, RunLike, StepLike } from "../../src/internal/runModel.js"

/** A time interval `[from, to]` in ms. */
export type Span = readonly [number, number]

/**
 * The intervals where `steps` ran, overlapping ones merged; two intervals whose positions on the
 * axis (`x`, 0..1) are closer than `join` become one, so a big run draws a bounded number.
 */
export const activeSpans = (steps: ReadonlyArray<StepLike>, x: (t: number) => number, join: number): Array<Span> => {
  const sorted = steps.map((s): Span => [s.startedAt, Math.max(s.startedAt, s.endedAt ?? s.startedAt)]).sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const [from, to] of sorted) {
    const last = merged.at(-1)
    if (last !== undefined && (from <= last[1] || x(from) - x(last[1]) < join)) last[1] = Math.max(last[1], to)
    else merged.push([from, to])
  }
  return merged
}

/** Where the process running a run died, as a later resume found it. */
export interface Crash {
  /** The last record written before it died: it died after this. */
  readonly at: number
  /** When the resume that found it started. */
  readonly resumedAt: number
  /** The agents it left running, which the resume recorded as interrupted. */
  readonly cutOff: ReadonlyArray<AgentLike>
}

/**
 * A resume records the agents a dead process left running as interrupted (`Interrupted`, ended
 * when the resume read them). Each resume that cut off an agent whose last step ran before it
 * marks a crash, placed at the last record before the resume. A process that died when every
 * agent was covered by a checkpoint left no trace, and has no mark.
 */
export const crashesOf = (
  agents: ReadonlyArray<AgentLike>,
  steps: ReadonlyArray<StepLike>,
  checkpoints: ReadonlyArray<CheckpointLike>,
  resumes: ReadonlyArray<Resume>
): Array<Crash> => {
  const byResume = new Map<Resume, Array<AgentLike>>()
  const lastOf = new Map<string, number>()
  for (const step of steps) lastOf.set(step.agentId, Math.max(lastOf.get(step.agentId) ?? 0, step.endedAt ?? step.startedAt))
  for (const agent of agents) {
    if (agent.status !== "interrupted" || agent.error?.tag !== "Interrupted" || agent.endedAt === null) continue
    const resume = resumes.filter((r) => r.at <= agent.endedAt!).at(-1)
    if (resume === undefined || Math.max(agent.startedAt, lastOf.get(agent.id) ?? 0) > resume.at) continue
    const list = byResume.get(resume)
    if (list === undefined) byResume.set(resume, [agent])
    else list.push(agent)
  }
  const crashes: Array<Crash> = []
  for (const [resume, cutOff] of byResume) {
    const before = (t: number | null | undefined) => t != null && t < resume.at ? t : 0
    let at = 0
    for (const step of steps) at = Math.max(at, before(step.startedAt), before(step.endedAt))
    for (const c of checkpoints) at = Math.max(at, before(c.createdAt))
    for (const agent of agents) at = Math.max(at, before(agent.startedAt), cutOff.includes(agent) ? 0 : before(agent.endedAt))
    crashes.push({ at, resumedAt: resume.at, cutOff })
  }
  return crashes.sort((a, b) => a.at - b.at)
}

/** Whether an agent was still running when its run stalled (its process gone). */
export const stalledAgent = (run: RunLike, agent: AgentLike): boolean => run.stalled != null && agent.status === "running"
