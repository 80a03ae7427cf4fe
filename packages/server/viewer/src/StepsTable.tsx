/**
 * Every step of the run in seq order, virtualised: only the rows in view (plus a few) are in
 * the page, whatever the number of steps. A nested step's name is indented under the step that
 * called it; a drifted step has a ⚠ whose title names the changed input; the attempt of a step
 * has ✕ when a crash cut it off and ∥ when it was running as the run stalled. Steps not loaded
 * yet before a deep-linked step keep their rows' place (the hole), so the selected row is drawn
 * where it will stay; it is scrolled into view once it is loaded, and kept there while the
 * steps before it arrive.
 */
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks"
import type { Run, Summary } from "./api.js"
import { count, duration, money, offset } from "./format.js"
import { stalledAgent } from "./marks.js"
import { depthOf, type View } from "./model.js"
import type { Hole } from "./useRun.js"

/** Height of one row in pixels (the CSS uses the same). */
export const rowHeight = 26
const overscan = 8

/** The index of the step with this seq (steps are ordered by seq). */
export const indexOfSeq = (steps: ReadonlyArray<Summary>, seq: number): number => {
  let lo = 0
  let hi = steps.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const at = steps[mid]!.seq
    if (at === seq) return mid
    if (at < seq) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** The row (from the top of the list) of the step at `index`, with the hole's rows before it. */
const rowOf = (index: number, hole: Hole | undefined): number =>
  hole !== undefined && index >= hole.index ? index + hole.size : index

/** The index of the first step at or after `row`. */
const indexOfRow = (row: number, hole: Hole | undefined): number =>
  hole === undefined || row < hole.index ? row : Math.max(hole.index, row - hole.size)

/** The table. */
export const StepsTable = (props: {
  run: Run
  steps: ReadonlyArray<Summary>
  hole?: Hole | undefined
  view: View
  version: number
  complete: boolean
  /** The steps are those a filter found. */
  found?: boolean
  selectedSeq: number | undefined
  onSelect: (seq: number) => void
}) => {
  const { hole, steps, view } = props
  const scroller = useRef<HTMLDivElement>(null)
  const [top, setTop] = useState(0)
  const [height, setHeight] = useState(480)
  const frame = useRef(0)
  // the selected step scrolled to, and the row it was drawn at
  const shown = useRef<{ seq: number; row: number } | undefined>(undefined)

  useEffect(() => {
    const el = scroller.current
    if (el === null) return
    setHeight(el.clientHeight)
    if (typeof ResizeObserver === "undefined") return
    const observer = new ResizeObserver(() => setHeight(el.clientHeight))
    observer.observe(el)
    return () => observer.disconnect()
  }, [])

  // bring the selected step into view once it is loaded (before the frame is painted); keep it in
  // place while steps load before it
  useLayoutEffect(() => {
    const el = scroller.current
    if (el === null || props.selectedSeq === undefined) return
    const i = indexOfSeq(steps, props.selectedSeq)
    if (i < 0) return
    const row = rowOf(i, hole)
    const before = shown.current
    if (before !== undefined && before.seq === props.selectedSeq) {
      if (before.row !== row) el.scrollTop += (row - before.row) * rowHeight
    } else {
      const rowTop = row * rowHeight
      if (rowTop < el.scrollTop || rowTop + rowHeight > el.scrollTop + el.clientHeight) {
        el.scrollTop = Math.max(0, rowTop - el.clientHeight / 3)
      }
      if (before === undefined) {
        requestAnimationFrame(() => {
          performance.mark("multirun:deep-link")
          document.body.dataset.deepLink = "shown"
        })
      }
    }
    shown.current = { seq: props.selectedSeq, row }
    setTop(el.scrollTop)
  }, [props.selectedSeq, props.version])

  const rows = hole === undefined ? steps.length : steps.length + hole.size
  const first = indexOfRow(Math.max(0, Math.floor(top / rowHeight) - overscan), hole)
  const last = Math.min(steps.length, indexOfRow(Math.ceil((top + height) / rowHeight) + overscan, hole) + 1)
  const { x } = view.scale
  const crashed = new Set(view.crashes.flatMap((c) => c.cutOff.map((a) => a.id)))
  const pct = (v: number) => `${(v * 100).toFixed(3)}%`
  const drawn = []
  for (let i = first; i < last; i++) {
    const step = steps[i]!
    const place = view.places.get(step.agentId)
    const from = x(step.startedAt)
    const depth = depthOf(step, view.byId)
    drawn.push(
      <div
        key={step.id}
        class={`step-row${props.selectedSeq === step.seq ? " selected" : ""}${step.replayed ? " replayed" : ""}`}
        data-seq={step.seq}
        style={{ top: `${rowOf(i, hole) * rowHeight}px` }}
        onClick={() => props.onSelect(step.seq)}
      >
        <span class="c-seq">#{step.seq}</span>
        <span class="c-agent" title={place?.lane.name}>
          {place?.lane.name ?? "?"}
          {place !== undefined && place.lane.attempts.length > 1 && <span class="muted"> · {place.attempt.number}</span>}
          {crashed.has(step.agentId) && <span class="crash-mark" title="this attempt was cut off: its process died (crash)"> ✕</span>}
          {place !== undefined && stalledAgent(props.run, place.attempt.agent) && (
            <span class="stalled-mark" title="this attempt was running when the run stalled (its owner is gone)"> ∥</span>
          )}
        </span>
        <span class="c-name" title={step.name} data-depth={depth} style={{ paddingLeft: `${depth * 14}px` }}>
          {depth > 0 && <span class="muted">↳ </span>}
          {step.name}
        </span>
        <span class={`c-kind k-${step.kind}`}>{step.kind}</span>
        <span class={`c-status ${step.status}`}>
          {step.replayed ? "↺ replayed" : step.status}
          {step.drift != null && (
            <span class="drift-mark" title={`drift: the input changed against the recorded call, first at ${step.drift}`}> ⚠</span>
          )}
        </span>
        <span class="c-bar">
          <span
            class={`mini k-${step.kind}${step.replayed ? " replayed" : ""} s-${step.status}`}
            style={{ left: pct(from), width: pct(Math.max(0, x(step.endedAt ?? step.startedAt) - from)) }}
          />
        </span>
        <span class="c-n">{duration(step.latencyMs)}</span>
        <span class="c-n">{count(step.tokensUsed)}</span>
        <span class="c-n">{money(step.costUsd)}</span>
      </div>
    )
  }
  return (
    <section class="steps" aria-label="steps">
      <div class="steps-head">
        <span class="c-seq">seq</span><span class="c-agent">agent · attempt</span><span class="c-name">step</span>
        <span class="c-kind">kind</span><span class="c-status">status</span><span class="c-bar">timeline</span>
        <span class="c-n">latency</span><span class="c-n">tokens</span><span class="c-n">cost</span>
      </div>
      <div
        class="steps-scroll"
        ref={scroller}
        onScroll={(event) => {
          const value = (event.target as HTMLDivElement).scrollTop
          cancelAnimationFrame(frame.current)
          frame.current = requestAnimationFrame(() => setTop(value))
        }}
      >
        <div class="steps-space" style={{ height: `${rows * rowHeight}px` }}>
          {drawn}
          {hole !== undefined && hole.size > 0 && (
            <div class="steps-hole muted" style={{ top: `${hole.index * rowHeight}px` }}>
              {count(hole.size)} steps before #{steps[hole.index]!.seq} loading…
            </div>
          )}
        </div>
      </div>
      <p class="muted steps-foot" id="steps-count">
        {count(steps.length)} {props.found ? "matching " : ""}steps{props.complete ? "" : " loaded so far…"}
        {props.run.stalled != null && (
          <span class="stalled-mark" id="steps-stalled">
            {" "}· ∥ stalled: nothing recorded since its owner was last seen, {offset(props.run.stalled.lastSeenAt - props.run.startedAt)}
          </span>
        )}
      </p>
    </section>
  )
}
