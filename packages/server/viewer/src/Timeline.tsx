/**
 * The waterfall: one lane per agent name, its attempts as bands, each step a bar from start
 * to end on the run's wall time (colour by kind, outline by status, hatched when replayed, a
 * red mark on drift, with the path of the changed input in its title), checkpoints and resumes
 * as vertical lines. Big runs draw the bars of a lane on a canvas, so the page never holds one
 * element per step.
 */
import { useEffect, useRef } from "preact/hooks"
import type { Checkpoint, Run, Summary } from "./api.js"
import { count, duration, offset, totalCost } from "./format.js"
import { attemptSpan, type Lane, type View } from "./model.js"
import { replayedCount as countReplayed } from "../../src/internal/runModel.js"

/** Bar colours by kind (the canvas needs them as values; the CSS uses the same). */
export const kindColors: Record<string, string> = {
  llm_call: "#7c6cf0",
  tool_call: "#1a9e8c",
  retrieval: "#d08a0a",
  function: "#3b7ddd",
  handoff: "#d1437e",
  custom: "#6b7280"
}

const rowHeight = 14
const maxRows = 6

/** Greedy packing of overlapping bars into rows. */
const pack = (steps: ReadonlyArray<Summary>, x: (t: number) => number) => {
  const ends: Array<number> = []
  return steps.map((step) => {
    const from = x(step.startedAt)
    const to = Math.max(x(step.endedAt ?? step.startedAt), from + 0.004)
    let row = ends.findIndex((end) => end <= from)
    if (row < 0) row = ends.length < maxRows ? ends.length : maxRows - 1
    ends[row] = to
    return row
  })
}

const LaneCanvas = (props: { steps: ReadonlyArray<Summary>; view: View; version: number; onSelect: (seq: number) => void }) => {
  const ref = useRef<HTMLCanvasElement>(null)
  const draw = () => {
    const canvas = ref.current
    if (canvas === null) return
    const width = canvas.clientWidth
    const ratio = window.devicePixelRatio || 1
    canvas.width = Math.max(1, Math.round(width * ratio))
    canvas.height = Math.round(28 * ratio)
    const g = canvas.getContext("2d")
    if (g === null) return
    g.scale(ratio, ratio)
    g.clearRect(0, 0, width, 28)
    const { x } = props.view.scale
    for (const step of props.steps) {
      const x0 = x(step.startedAt) * width
      const x1 = Math.max(x0 + 1, x(step.endedAt ?? step.startedAt) * width)
      g.globalAlpha = step.replayed ? 0.35 : 0.85
      g.fillStyle = step.status === "failed" ? "#d93025" : kindColors[step.kind] ?? "#6b7280"
      g.fillRect(x0, 6, x1 - x0, 16)
      if (step.drift != null) {
        g.globalAlpha = 1
        g.fillStyle = "#d93025"
        g.fillRect(x0, 0, Math.max(2, x1 - x0), 4)
      }
    }
  }
  useEffect(draw, [props.version, props.steps, props.view.scale])
  useEffect(() => {
    const canvas = ref.current
    if (canvas === null || typeof ResizeObserver === "undefined") return
    const observer = new ResizeObserver(() => draw())
    observer.observe(canvas)
    return () => observer.disconnect()
  }, [])
  return (
    <canvas
      ref={ref}
      class="lane-canvas"
      onClick={(event) => {
        const rect = (event.target as HTMLCanvasElement).getBoundingClientRect()
        const t = props.view.scale.invert((event.clientX - rect.left) / rect.width)
        let best: Summary | undefined
        for (const step of props.steps) {
          const distance = t < step.startedAt ? step.startedAt - t : t > (step.endedAt ?? step.startedAt) ? t - (step.endedAt ?? step.startedAt) : 0
          if (best === undefined || distance < (t < best.startedAt ? best.startedAt - t : t - (best.endedAt ?? best.startedAt))) best = step
          if (distance === 0) break
        }
        if (best !== undefined) props.onSelect(best.seq)
      }}
    />
  )
}

const LaneRow = (props: {
  lane: Lane
  view: View
  run: Run
  version: number
  selectedSeq: number | undefined
  checkpoints: ReadonlyArray<Checkpoint>
  onSelect: (seq: number) => void
}) => {
  const { lane, view } = props
  const steps = view.stepsByLane.get(lane.name) ?? []
  const { x } = view.scale
  const rows = view.canvas ? [] : pack(steps, x)
  const height = view.canvas ? 28 : Math.max(1, Math.max(0, ...rows) + 1) * (rowHeight + 2) + 14
  const pct = (v: number) => `${(v * 100).toFixed(3)}%`
  const end = view.scale.end
  return (
    <div class="lane" data-lane={lane.name}>
      <div class="lane-label">
        <b title={lane.name}>{lane.name}</b>
        <span class="muted">
          {lane.attempts.length > 1 ? `${lane.attempts.length} attempts · ` : ""}
          {count(lane.stepCount)} steps · {count(lane.tokensUsed)} tok ·{" "}
          {totalCost(lane.costUsd, lane.unpricedSteps)}
        </span>
      </div>
      <div class="track" style={{ height: `${height}px` }}>
        {lane.attempts.map((attempt) => {
          const [from, to] = attemptSpan(attempt, view.canvas ? undefined : steps, end)
          return (
            <div
              class={`attempt a-${attempt.agent.status}`}
              data-attempt={attempt.number}
              style={{ left: pct(x(from)), width: pct(Math.max(0.002, x(to) - x(from))) }}
              title={`attempt ${attempt.number} · ${attempt.agent.status} · ${count(attempt.agent.stepCount)} steps${
                attempt.agent.error ? ` · ${attempt.agent.error.message}` : ""
              }`}
            >
              {lane.attempts.length > 1 && <span class="attempt-label">attempt {attempt.number}</span>}
            </div>
          )
        })}
        {props.checkpoints.map((c) => <div class="cp-line" style={{ left: pct(x(c.createdAt)) }} />)}
        {view.replay.resumes.map((r) => <div class="resume-line" style={{ left: pct(x(r.at)) }} />)}
        {view.canvas
          ? <LaneCanvas steps={steps} view={view} version={props.version} onSelect={props.onSelect} />
          : steps.map((step, i) => {
            const from = x(step.startedAt)
            const to = x(step.endedAt ?? step.startedAt)
            return (
              <div
                key={step.id}
                class={`bar k-${step.kind} s-${step.status}${step.replayed ? " replayed" : ""}${step.drift != null ? " drift" : ""}${
                  props.selectedSeq === step.seq ? " selected" : ""
                }`}
                data-seq={step.seq}
                style={{ left: pct(from), width: pct(Math.max(0, to - from)), top: `${12 + rows[i]! * (rowHeight + 2)}px` }}
                title={`#${step.seq} ${step.name} · ${step.kind} · ${step.status}${step.replayed ? " · replayed" : ""}${
                  step.drift != null ? ` · ⚠ drift at ${step.drift}` : ""
                } · ${duration(step.latencyMs)}`}
                onClick={() => props.onSelect(step.seq)}
              />
            )
          })}
      </div>
    </div>
  )
}

/** The timeline of a run. */
export const Timeline = (props: {
  run: Run
  view: View
  version: number
  checkpoints: ReadonlyArray<Checkpoint>
  selectedSeq: number | undefined
  onSelect: (seq: number) => void
}) => {
  const { view, run } = props
  const pct = (v: number) => `${(v * 100).toFixed(3)}%`
  return (
    <section class="timeline" aria-label="timeline">
      <div class="lane axis">
        <div class="lane-label muted">{view.lanes.length} lanes · wall time</div>
        <div class="track axis-track">
          {view.scale.ticks.map((tick) => <span class="tick" style={{ left: pct(tick.x) }}>{offset(tick.t - run.startedAt)}</span>)}
          {view.scale.gaps.map((gap) => (
            <span class="gap" style={{ left: pct(gap.x), width: pct(gap.width) }} title={`idle for ${duration(gap.to - gap.from)}`}>
              ⋯ {duration(gap.to - gap.from)}
            </span>
          ))}
          {props.checkpoints.map((c) => (
            <span class="cp-mark" data-checkpoint={c.id} style={{ left: pct(view.scale.x(c.createdAt)) }} title={`checkpoint v${c.version} ${c.name}`}>
              ◆
            </span>
          ))}
          {view.replay.resumes.map((r) => (
            <span class="resume-mark" style={{ left: pct(view.scale.x(r.at)) }} title={`resumed${r.checkpoint ? ` from "${r.checkpoint.name}"` : ""}${
              r.replayed === undefined ? "" : `, replayed ${countReplayed(r.replayed)} recorded steps`
            }`}>
              ↻
            </span>
          ))}
        </div>
      </div>
      {view.lanes.map((lane) => (
        <LaneRow
          key={lane.name}
          lane={lane}
          view={view}
          run={run}
          version={props.version}
          selectedSeq={props.selectedSeq}
          checkpoints={props.checkpoints}
          onSelect={props.onSelect}
        />
      ))}
      <p class="legend">
        {Object.keys(kindColors).map((kind) => <span class={`legend-item k-${kind}`}>{kind}</span>)}
        <span class="legend-item replayed">replayed</span>
        <span class="legend-item drift">drift</span>
        <span class="legend-item cp">◆ checkpoint</span>
        <span class="legend-item resume">↻ resume</span>
      </p>
    </section>
  )
}
