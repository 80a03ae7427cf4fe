/**
 * The waterfall: one lane per agent name; an attempt as a thin line over its life and filled
 * spans where its steps ran; each step a bar from start to end on the run's wall time (colour by
 * kind, outline by status, hatched when replayed, a ⚠ on drift, with the path of the changed
 * input in its title); checkpoints, resumes, crashes and a stall as vertical lines with their
 * marks on the axis. Every label is laid out in pixels so none overlaps another or leaves the
 * plot. Big runs draw the bars of a lane on a canvas, so the page never holds one element per
 * step.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks"
import type { Checkpoint, Run, Summary } from "./api.js"
import { AxisLabels, Label, labelRow, Legend, measure } from "./Axis.js"
import { count, duration, offset, totalCost } from "./format.js"
import { type LabelRequest, placeLabels, textsWithin } from "./labels.js"
import { activeSpans, stalledAgent } from "./marks.js"
import { attemptSpan, type Lane, type View } from "./model.js"

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

/** A big run's lane: its bars on a canvas under the lane's row of labels. */
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

/** Drifted steps flagged by name in one lane, at most (the rest keep their red mark). */
const maxFlags = 200

const LaneRow = (props: {
  lane: Lane
  view: View
  run: Run
  width: number
  version: number
  selectedSeq: number | undefined
  checkpoints: ReadonlyArray<Checkpoint>
  onSelect: (seq: number) => void
}) => {
  const { lane, view, run, width } = props
  const steps = view.stepsByLane.get(lane.name) ?? []
  const { x } = view.scale
  const rows = view.canvas ? [] : pack(steps, x)
  const height = labelRow + 2 + (view.canvas ? 28 : Math.max(1, Math.max(0, ...rows) + 1) * (rowHeight + 2) + 2)
  const pct = (v: number) => `${(v * 100).toFixed(3)}%`
  const at = (t: number) => offset(t - run.startedAt)
  const end = view.scale.end
  // where each attempt worked: computed again when the steps or the scale change, not on a click
  const active = useMemo(() => {
    const byAgent = new Map<string, Array<Summary>>()
    for (const step of steps) {
      const list = byAgent.get(step.agentId)
      if (list === undefined) byAgent.set(step.agentId, [step])
      else list.push(step)
    }
    return lane.attempts.map((attempt) => activeSpans(byAgent.get(attempt.agent.id) ?? [], x, 0.002))
  }, [view, lane])
  const crashed = new Set(view.crashes.flatMap((c) => c.cutOff.map((a) => a.id)))
  // the lane's labels: crashes and stalls first, then drift flags, then attempt numbers
  const requests: Array<LabelRequest> = []
  const titles = new Map<string, string>()
  const classes = new Map<string, string>()
  const add = (request: LabelRequest, cls: string, title: string) => {
    requests.push(request)
    titles.set(request.key, title)
    classes.set(request.key, cls)
  }
  const spans = lane.attempts.map((attempt) => attemptSpan(attempt, view.canvas ? undefined : steps, end))
  // the room a label starting at `t` has before the next attempt's
  const roomAfter = (i: number, t: number) => i + 1 < spans.length ? (x(spans[i + 1]![0]) - x(t)) * width : width
  lane.attempts.forEach((attempt, i) => {
    const [, to] = spans[i]!
    if (crashed.has(attempt.agent.id)) {
      add(
        {
          key: `crash${attempt.number}`,
          x: x(to) * width,
          // with several attempts, the label says which one
          texts: textsWithin(
            lane.attempts.length > 1 ? [`✕ attempt ${attempt.number} crashed`, `✕ #${attempt.number} crashed`, `✕ #${attempt.number}`, "✕"] : ["✕ crashed", "✕"],
            roomAfter(i, to),
            measure
          ),
          align: "start",
          rows: [0]
        },
        "crash-label",
        `attempt ${attempt.number} was cut off: the process running it died after ${at(to)}`
      )
    }
    if (stalledAgent(run, attempt.agent)) {
      add(
        { key: `stalled${attempt.number}`, x: x(to) * width, texts: ["∥ stalled", "∥"], align: "end", rows: [0] },
        "stalled-label",
        `attempt ${attempt.number} was still running when the run stalled (its owner is gone)`
      )
    }
  })
  for (const step of steps.filter((s) => s.drift != null).slice(0, maxFlags)) {
    add(
      { key: `drift${step.seq}`, x: x(step.startedAt) * width, texts: ["⚠ drift", "⚠"], align: "start", rows: [0] },
      "drift-flag",
      `#${step.seq} ${step.name}: drift, the input changed at ${step.drift}`
    )
  }
  if (lane.attempts.length > 1) {
    lane.attempts.forEach((attempt, i) => {
      add(
        {
          key: `attempt${attempt.number}`,
          x: x(spans[i]![0]) * width,
          texts: textsWithin([`attempt ${attempt.number}`, `#${attempt.number}`], roomAfter(i, spans[i]![0]), measure),
          align: "start",
          rows: [0]
        },
        "attempt-label",
        `attempt ${attempt.number} · ${attempt.agent.status}`
      )
    })
  }
  const labels = width > 0 ? placeLabels(requests, width, measure) : []
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
        {view.scale.gaps.map((gap) => <div class="gap-band" style={{ left: pct(gap.x), width: pct(gap.width) }} />)}
        {lane.attempts.map((attempt, i) => {
          const [from, to] = spans[i]!
          const status = stalledAgent(run, attempt.agent) ? "stalled" : attempt.agent.status
          return (
            <>
              <div
                class={`attempt a-${status}${crashed.has(attempt.agent.id) ? " a-crashed" : ""}`}
                data-attempt={attempt.number}
                style={{ left: pct(x(from)), width: pct(Math.max(0.002, x(to) - x(from))) }}
                title={`attempt ${attempt.number} · ${status} · ${count(attempt.agent.stepCount)} steps · alive ${at(from)} → ${at(to)}${
                  attempt.agent.error ? ` · ${attempt.agent.error.message}` : ""
                }`}
              />
              {active[i]!.map(([a, b]) => (
                <div
                  class="active"
                  data-attempt={attempt.number}
                  style={{ left: pct(x(a)), width: pct(Math.max(0.002, x(b) - x(a))) }}
                  title={`${lane.name} · attempt ${attempt.number} at work ${at(a)} → ${at(b)} (${duration(b - a)})`}
                />
              ))}
            </>
          )
        })}
        {props.checkpoints.map((c) => <div class="cp-line" style={{ left: pct(x(c.createdAt)) }} />)}
        {view.replay.resumes.map((r) => <div class="resume-line" style={{ left: pct(x(r.at)) }} />)}
        {view.crashes.map((c) => <div class="crash-line" style={{ left: pct(x(c.at)) }} />)}
        {labels.map((label) => <Label key={label.key} label={label} class={classes.get(label.key)!} title={titles.get(label.key)!} />)}
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
                style={{ left: pct(from), width: pct(Math.max(0, to - from)), top: `${labelRow + 2 + rows[i]! * (rowHeight + 2)}px` }}
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
  const axis = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(0)
  useEffect(() => {
    const track = axis.current
    if (track === null) return
    // whole pixels, rounded down: a label laid out to the edge stays inside
    const measure = () => setWidth(Math.floor(track.getBoundingClientRect().width))
    measure()
    if (typeof ResizeObserver === "undefined") return
    const observer = new ResizeObserver(measure)
    observer.observe(track)
    return () => observer.disconnect()
  }, [])
  return (
    <section class="timeline" aria-label="timeline">
      <div class="lane axis">
        <div class="lane-label muted">{view.lanes.length} lanes · wall time</div>
        <div class="track axis-track" ref={axis} data-width={width}>
          {view.scale.gaps.map((gap) => <div class="gap-band" style={{ left: `${(gap.x * 100).toFixed(3)}%`, width: `${(gap.width * 100).toFixed(3)}%` }} />)}
          <AxisLabels run={run} view={view} checkpoints={props.checkpoints} width={width} />
        </div>
      </div>
      {view.lanes.map((lane) => (
        <LaneRow
          key={lane.name}
          lane={lane}
          view={view}
          run={run}
          width={width}
          version={props.version}
          selectedSeq={props.selectedSeq}
          checkpoints={props.checkpoints}
          onSelect={props.onSelect}
        />
      ))}
      <Legend kinds={Object.keys(kindColors)} />
    </section>
  )
}
