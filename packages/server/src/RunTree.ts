/**
 * A run printed as a tree for the terminal: the run with its wall time, totals and drift count,
 * its agents grouped by name with their resume attempts, each agent's steps (nested steps under
 * the step that called them) with usage, replayed and drift marks and the kind of their error,
 * the checkpoints and the resumes. Used by `multirun runs show` and the demo.
 *
 * @since 0.2.0
 */
import * as format from "./internal/format.js"
import {
  type AgentLike,
  analyseReplay,
  type CheckpointLike,
  type ErrorLike,
  firstSeqByAgent,
  lanesOf,
  replayedCount,
  type Resume,
  resumeCode,
  type RunLike,
  statusOf,
  type StepLike,
  wallMs
} from "./internal/runModel.js"

export type { AgentLike, CheckpointLike, ErrorLike, RunLike, StepLike } from "./internal/runModel.js"
export { analyseReplay, lanesOf } from "./internal/runModel.js"

/**
 * What a tree is drawn from.
 *
 * @since 0.2.0
 */
export interface Input {
  readonly run: RunLike
  readonly agents: ReadonlyArray<AgentLike>
  readonly steps: ReadonlyArray<StepLike>
  readonly checkpoints?: ReadonlyArray<CheckpointLike> | undefined
}

/**
 * How a tree is drawn.
 *
 * - `now`: the current time in ms, for the wall time of a running run and how long ago a stalled
 *   run's owner was last seen.
 * - `maxStepsPerAgent`: steps printed per attempt before `… N more steps` (default all).
 *
 * @since 0.2.0
 */
export interface Options {
  readonly now: number
  readonly maxStepsPerAgent?: number | undefined
}

/** Totals of a run, an agent or a lane, with its steps of unknown cost. */
const totals = (
  t: {
    readonly stepCount: number
    readonly tokensUsed: number
    readonly costUsd: number | null
    readonly unpricedSteps?: number | undefined
  } & format.TokenSplit
) => {
  const split = format.tokenSplit(t)
  return `steps ${format.count(t.stepCount)}  tokens ${format.count(t.tokensUsed)}${split === "" ? "" : ` (${split})`}  cost ${
    format.totalCost(t.costUsd, t.unpricedSteps)
  }`
}

/** `  +3 inherited steps (90 tokens, $0.0030)`: what a fork inherits, counted apart (empty when not a fork). */
const inheritedPart = (run: RunLike): string =>
  run.inherited == null ? "" : `  +${format.count(run.inherited.stepCount)} inherited steps (${
    format.count(run.inherited.tokensUsed)
  } tokens, ${format.totalCost(run.inherited.costUsd, run.inherited.unpricedSteps)})`

/**
 * The line that tells a stalled run: whose lease expired, when its owner was last seen, and the
 * code that resumes it (empty for a run that is not stalled).
 *
 * @since 0.3.0
 */
export const stalledLine = (run: RunLike, now: number): string =>
  run.stalled == null ? "" : `stalled: its owner (${run.stalled.owner}) was last seen ${
    format.timestamp(run.stalled.lastSeenAt)
  } (${format.duration(now - run.stalled.lastSeenAt)} ago) and its lease expired; resume it with ${resumeCode(run)}`

/** ` (defect)`: the kind of an error, when it has one (records before 0.3 have none) and says more than `status`. */
const kindOf = (error: ErrorLike | null, status: string): string =>
  error?.kind === undefined || (status === "interrupted" && error.kind === "interruption") ? "" : ` (${error.kind})`

const firstLine = (text: string): string => text.split("\n")[0]!

/** `↺ replayed 30 (#0–#29)`: the records a resume returned, as ranges of their seq. */
const replayedLine = (replayed: NonNullable<Resume["replayed"]>): string => {
  const ranges = replayed.steps.map(([from, to]) => to - from === 1 ? `#${from}` : `#${from}–#${to - 1}`)
  if (replayed.inherited > 0) ranges.push(`${format.count(replayed.inherited)} of the parent run`)
  return `↺ replayed ${format.count(replayedCount(replayed))}${ranges.length === 0 ? "" : ` (${ranges.join(", ")})`}`
}

/**
 * One step: `#6 ask (llm_call · fake-1)  30 tok (20 in · 10 out)  $0.0001  12 ms` and its marks.
 * `parent` is given when the step ran inside a step that is not drawn above it.
 */
const stepLine = (step: StepLike, original: StepLike | undefined, parent: StepLike | undefined): string => {
  const split = format.tokenSplit(step)
  const usage = step.replayed
    ? ""
    : `  ${format.count(step.tokensUsed)} tok${split === "" ? "" : ` (${split})`}  ${format.cost(step.costUsd)}`
  const marks = [
    parent === undefined ? "" : `↳ inside #${parent.seq} ${parent.name}`,
    step.replayed ? `↺ replayed${original === undefined ? "" : ` (of #${original.seq})`}` : "",
    step.drift == null ? "" : `⚠ drift ${step.drift}`,
    step.status === "completed" ? "" : `${step.status}${kindOf(step.error, step.status)}`,
    step.error === null ? "" : firstLine(step.error.message)
  ].filter((mark) => mark !== "")
  const model = step.model == null ? "" : ` · ${step.model}`
  return `#${step.seq} ${step.name} (${step.kind}${model})${usage}  ${format.duration(step.latencyMs)}${
    marks.length === 0 ? "" : `  ${marks.join("  ")}`
  }`
}

/**
 * The tree as lines of text (no colours), e.g.
 *
 * ```text
 * research-crew  completed  wall 3.31 s  steps 7  tokens 1,843 (1,210 in · 633 out)  cost $0.0037  (5 replayed)
 * ├─ planner  completed  steps 1  tokens 428 (300 in · 128 out)  cost $0.0009
 * │  ├─ #0 plan (llm_call · fake-1)  428 tok (300 in · 128 out)  $0.0009  41 ms
 * │  │  └─ #1 fetch (tool_call)  0 tok  $0  12 ms
 * │  └─ #5 plan (llm_call · fake-1)  0 ms  ↺ replayed (of #0)
 * └─ writer  completed  2 attempts  steps 2  tokens 657  cost $0.0013
 *    ├─ attempt 1  interrupted  steps 0  …
 *    │  └─ #4 lookup (retrieval)  0 tok  $0  3 ms  failed (failure)  index offline
 *    └─ attempt 2  completed  steps 2  …
 *       └─ #7 draft (llm_call · fake-1)  … 38 ms  ⚠ drift input.temperature
 * ```
 *
 * A step is drawn under the step whose body called it (`parentId`), or, when that step is drawn
 * elsewhere (another agent), with `↳ inside #N name`. A drifted step (replay found its input
 * changed) shows `⚠ drift` and the JSON path of the first difference, and the run's first line
 * how many calls drifted. A failed step shows its error's kind (`failure`, `defect`,
 * `interruption`) after its status, and the first line of its message.
 *
 * A step whose cost is unknown (a model missing from the price table) shows `cost unknown`, and
 * the totals that miss it `+ unknown`. A stalled run shows `stalled`, its wall time up to its
 * owner's last sighting, and a line with that sighting and how to resume it.
 *
 * @since 0.2.0
 */
// one pass that prints the tree top-down; its helpers are local because they share the lines and widths
export const render = (input: Input, options: Options): Array<string> => {
  const { agents, run } = input
  const steps = [...input.steps].sort((a, b) => a.seq - b.seq)
  const checkpoints = [...(input.checkpoints ?? [])].sort((a, b) => a.version - b.version)
  const replay = analyseReplay(steps, agents, checkpoints, run.replays)
  const lanes = lanesOf(agents, firstSeqByAgent(steps))
  const byAgent = new Map<string, Array<StepLike>>()
  for (const step of steps) {
    const list = byAgent.get(step.agentId)
    if (list === undefined) byAgent.set(step.agentId, [step])
    else list.push(step)
  }
  const byId = new Map(steps.map((step) => [step.id, step]))
  const replayed = steps.filter((s) => s.replayed).length +
    replay.resumes.reduce((sum, resume) => sum + (resume.replayed === undefined ? 0 : replayedCount(resume.replayed)), 0)
  const drifts = run.drifts ?? 0
  const lines: Array<string> = [
    `${run.name}  ${statusOf(run)}  wall ${format.duration(wallMs(run, options.now))}  ${totals(run)}${inheritedPart(run)}${
      replayed === 0 ? "" : `  (${format.count(replayed)} replayed)`
    }${drifts === 0 ? "" : `  ⚠ ${format.count(drifts)} drift${drifts === 1 ? "" : "s"}`}`,
    `run ${run.id}  started ${format.timestamp(run.startedAt)}${
      run.tags.length === 0 ? "" : `  tags ${run.tags.join(", ")}`
    }${run.forkedFrom === null ? "" : `  forked from checkpoint ${run.forkedFrom} of run ${run.parentRunId ?? "?"}`}`
  ]
  if (run.stalled != null) lines.push(stalledLine(run, options.now))
  if (run.error !== null) lines.push(`error${kindOf(run.error, run.status)}: ${firstLine(run.error.message)}`)
  const max = options.maxStepsPerAgent ?? Infinity
  const stepLines = (agentId: string, prefix: string) => {
    const own = byAgent.get(agentId) ?? []
    // the steps drawn here, as a forest: a step under its parent when the parent is drawn here too
    const here = new Set(own.map((step) => step.id))
    const children = new Map<string | undefined, Array<StepLike>>()
    for (const step of own) {
      const parent = step.parentId != null && here.has(step.parentId) ? step.parentId : undefined
      const list = children.get(parent)
      if (list === undefined) children.set(parent, [step])
      else list.push(step)
    }
    const cut = own.length > max
    let budget = max
    const draw = (step: StepLike, indent: string, last: boolean) => {
      if (budget-- <= 0) return
      const away = step.parentId == null || here.has(step.parentId) ? undefined : byId.get(step.parentId)
      lines.push(`${indent}${last ? "└─" : "├─"} ${stepLine(step, replay.originals.get(step.id), away)}`)
      const nested = children.get(step.id) ?? []
      nested.forEach((child, i) => draw(child, `${indent}${last ? "   " : "│  "}`, i === nested.length - 1))
    }
    const roots = children.get(undefined) ?? []
    roots.forEach((step, i) => draw(step, prefix, i === roots.length - 1 && !cut))
    if (cut) lines.push(`${prefix}└─ … ${format.count(own.length - max)} more steps`)
  }
  lanes.forEach((lane, i) => {
    const lastLane = i === lanes.length - 1
    const branch = lastLane ? "└─" : "├─"
    const indent = lastLane ? "   " : "│  "
    const latest = lane.attempts.at(-1)!.agent
    const attempts = lane.attempts.length > 1 ? `  ${lane.attempts.length} attempts` : ""
    lines.push(
      `${branch} ${lane.name}${latest.isDefault ? " (default)" : ""}  ${latest.status}${attempts}  ${totals(lane)}`
    )
    if (lane.attempts.length === 1) return stepLines(latest.id, indent)
    lane.attempts.forEach((attempt, j) => {
      const lastAttempt = j === lane.attempts.length - 1
      const agent = attempt.agent
      const error = agent.error === null || agent.status === "completed" ? "" : `  ${firstLine(agent.error.message)}`
      lines.push(
        `${indent}${lastAttempt ? "└─" : "├─"} attempt ${attempt.number}  ${agent.status}  ${
          totals(agent)
        }${error}`
      )
      stepLines(agent.id, `${indent}${lastAttempt ? "   " : "│  "}`)
    })
  })
  if (checkpoints.length > 0) {
    lines.push(
      `checkpoints: ${checkpoints.map((c) => `v${c.version} ${c.name} (+${format.duration(c.createdAt - run.startedAt)})`).join(", ")}`
    )
  }
  for (const resume of replay.resumes) {
    lines.push(
      `resumed at +${format.duration(resume.at - run.startedAt)} (#${resume.seq})${
        resume.checkpoint === undefined ? "" : ` from checkpoint "${resume.checkpoint.name}" v${resume.checkpoint.version}`
      }${resume.replayed === undefined ? "" : `  ${replayedLine(resume.replayed)}`}`
    )
  }
  return lines
}
