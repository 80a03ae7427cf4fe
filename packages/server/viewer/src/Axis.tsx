/**
 * The waterfall's time axis and its legend. The axis has three rows of labels laid out in pixels
 * (`labels.ts`): two of marks on top (in this order of priority: a stall, resumes, crashes,
 * checkpoints: those at one point are grouped), time ticks and squeezed gaps below. A label that does not fit is shortened or left
 * out; its mark's title keeps the whole text.
 */
import type { Checkpoint, Run } from "./api.js"
import { duration, localTime, offset } from "./format.js"
import { type LabelRequest, type PlacedLabel, placeLabels, textWidth } from "./labels.js"
import type { View } from "./model.js"
import { replayedCount as countReplayed } from "../../src/internal/runModel.js"

/** The font of every waterfall label (`.wf-label` in the stylesheet uses the same). */
export const labelFont = "10px system-ui, -apple-system, \"Segoe UI\", sans-serif"

/** The height of a row of labels, in px (`.wf-label`'s line height, plus a little). */
export const labelRow = 13

/** A placed label drawn: its box is exactly the one the layout gave it. */
export const Label = (props: {
  label: PlacedLabel
  class: string
  title: string
  data?: Record<string, string> | undefined
}) => (
  <span
    class={`wf-label ${props.class}`}
    title={props.title}
    {...props.data}
    style={{ left: `${props.label.left}px`, width: `${props.label.width}px`, top: `${props.label.row * labelRow}px` }}
  >
    {props.label.text}
  </span>
)

/** A label's text width in px. */
export const measure = (text: string): number => textWidth(labelFont, text)

/** The axis' rows of marks (a third row holds the time). */
const marks = [0, 1]

/** Checkpoints closer than this on the axis (px) share one mark. */
const groupWithin = 12

/** Lays out and draws the labels of an axis `width` px wide. */
export const AxisLabels = (props: { run: Run; view: View; checkpoints: ReadonlyArray<Checkpoint>; width: number }) => {
  const { run, view, width } = props
  if (width <= 0) return null
  const px = (t: number) => view.scale.x(t) * width
  const at = (t: number) => offset(t - run.startedAt)
  const titles = new Map<string, string>()
  const kinds = new Map<string, { readonly class: string; readonly data?: Record<string, string> }>()
  const requests: Array<LabelRequest> = []
  const add = (request: LabelRequest, cls: string, title: string, data?: Record<string, string>) => {
    requests.push(request)
    titles.set(request.key, title)
    kinds.set(request.key, data === undefined ? { class: cls } : { class: cls, data })
  }
  if (run.stalled != null) {
    add(
      { key: "stalled", x: px(run.stalled.lastSeenAt), texts: ["∥ stalled", "∥"], align: "end", rows: marks },
      "stalled-label",
      `stalled: the run did not end, and its owner (${run.stalled.owner}) was last seen ${localTime(run.stalled.lastSeenAt)}`
    )
  }
  view.replay.resumes.forEach((r, i) => {
    add(
      { key: `resume${i}`, x: px(r.at), texts: ["↻"], align: "center", rows: marks },
      "resume-mark",
      `resumed at ${at(r.at)}${r.checkpoint ? ` from "${r.checkpoint.name}"` : ""}${
        r.replayed === undefined ? "" : `, replayed ${countReplayed(r.replayed)} recorded steps`
      }`
    )
  })
  view.crashes.forEach((crash, i) => {
    const agents = crash.cutOff.map((a) => view.places.get(a.id)).map((p) => p ? `${p.lane.name} (attempt ${p.attempt.number})` : "?")
    add(
      { key: `crash${i}`, x: px(crash.at), texts: ["✕ process died", "✕ crashed", "✕"], align: "start", rows: marks },
      "crash-label",
      `crashed: the process died after ${at(crash.at)} (its last record) and left ${agents.join(", ")} running; ` +
        `the run was resumed at ${at(crash.resumedAt)}, ${duration(crash.resumedAt - crash.at)} later`,
      { "data-crash": String(i) }
    )
  })
  const sorted = [...props.checkpoints].sort((a, b) => a.createdAt - b.createdAt)
  const groups: Array<Array<Checkpoint>> = []
  for (const c of sorted) {
    const group = groups.at(-1)
    if (group !== undefined && px(c.createdAt) - px(group[0]!.createdAt) < groupWithin) group.push(c)
    else groups.push([c])
  }
  groups.forEach((group, i) => {
    const x = (px(group[0]!.createdAt) + px(group.at(-1)!.createdAt)) / 2
    add(
      { key: `cp${i}`, x, texts: group.length === 1 ? ["◆"] : [`◆${group.length}`], align: "center", rows: marks },
      "cp-mark",
      group.map((c) => `checkpoint v${c.version} ${c.name} at ${at(c.createdAt)}`).join("\n"),
      { "data-checkpoint": group.map((c) => c.id).join(" ") }
    )
  })
  view.scale.gaps.forEach((gap, i) => {
    const idle = duration(gap.to - gap.from)
    add(
      { key: `gap${i}`, x: (gap.x + gap.width / 2) * width, texts: [`⋯ ${idle}`, "⋯"], align: "center", rows: [2] },
      "gap-label",
      `idle for ${idle} (squeezed), from ${at(gap.from)} to ${at(gap.to)}`
    )
  })
  view.scale.ticks.forEach((tick, i) => {
    add({ key: `tick${i}`, x: tick.x * width, texts: [tick.label], align: "center", rows: [2] }, "tick", tick.label)
  })
  return (
    <>
      {view.scale.ticks.map((tick) => <span class="tick-line" style={{ left: `${(tick.x * 100).toFixed(3)}%` }} />)}
      {placeLabels(requests, width, measure).map((label) => (
        <Label key={label.key} label={label} class={kinds.get(label.key)!.class} title={titles.get(label.key)!} data={kinds.get(label.key)!.data} />
      ))}
    </>
  )
}

/** The one legend of the run page: what each colour and mark means. */
export const Legend = (props: { kinds: ReadonlyArray<string> }) => (
  <p class="legend" id="legend">
    {props.kinds.map((kind) => <span class={`legend-item k-${kind}`}>{kind}</span>)}
    <span class="legend-item l-active" title="the agent's steps were running">agent at work</span>
    <span class="legend-item l-idle" title="the agent was alive but ran no step">agent idle</span>
    <span class="legend-item replayed" title="returned the recorded result instead of running again">replayed</span>
    <span class="legend-item l-failed" title="the step failed">failed</span>
    <span class="legend-item drift" title="replay found this call's input changed against the recorded call">drifted</span>
    <span class="legend-item mark cp">◆ checkpoint</span>
    <span class="legend-item mark resume">↻ resume</span>
    <span class="legend-item mark crash" title="the process died; a resume found the agents it left running">✕ crash</span>
    <span class="legend-item mark stalled" title="the run did not end and its owner's lease expired">∥ stalled</span>
    <span class="legend-item mark gap" title="idle time squeezed to a narrow band">⋯ idle (squeezed)</span>
  </p>
)
