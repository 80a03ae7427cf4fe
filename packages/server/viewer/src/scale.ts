/**
 * The time axis of a run's timeline: linear in wall time, except that long idle gaps (a crash
 * and a resume hours later, an agent waiting) are squeezed to a narrow band so the work on both
 * sides stays readable. A gap is long from a quarter of a second and a fifth of the run on.
 */
import { offset } from "./format.js"

/** A squeezed gap, drawn as a break in the axis. */
export interface Gap {
  readonly from: number
  readonly to: number
  readonly x: number
  readonly width: number
}

/** Time ↔ position (0..1 of the track width). */
export interface Scale {
  readonly start: number
  readonly end: number
  readonly x: (t: number) => number
  readonly invert: (x: number) => number
  readonly gaps: ReadonlyArray<Gap>
  /** Ticks with their labels (offsets from the start, as precise as the tick step needs). */
  readonly ticks: ReadonlyArray<{ readonly t: number; readonly x: number; readonly label: string }>
}

interface Piece {
  readonly from: number
  readonly to: number
  readonly x0: number
  readonly x1: number
  readonly squeezed: boolean
}

const niceStep = (span: number, count: number) => {
  const raw = span / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw
  return Math.max(step, 1)
}

/** `+40 ms`, `+1.52 s`, `+2m05s`: an offset from the start, with the digits that tell ticks `step` ms apart. */
export const tickLabel = (ms: number, step: number): string => {
  if (ms < 1000) return `+${Math.round(ms)} ms`
  if (ms < 60_000 || step < 1000) {
    const digits = Math.min(3, Math.max(1, Math.ceil(-Math.log10(step / 1000) - 1e-9)))
    return `+${(ms / 1000).toFixed(digits)} s`
  }
  return offset(ms)
}

/** A scale over `[start, end]` where `busy` intervals are kept and idle gaps between them may be squeezed. */
export const makeScale = (start: number, end: number, busy: ReadonlyArray<readonly [number, number]>): Scale => {
  const total = Math.max(1, end - start)
  const merged: Array<[number, number]> = []
  for (const [a, b] of [...busy].map(([a, b]) => [Math.max(start, a), Math.min(end, Math.max(a, b))] as const).sort((p, q) => p[0] - q[0])) {
    const last = merged.at(-1)
    if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b)
    else merged.push([a, b])
  }
  const minGap = Math.max(250, total * 0.2)
  const raw: Array<{ from: number; to: number; squeezed: boolean }> = []
  let cursor = start
  for (const [a, b] of merged) {
    if (a - cursor > minGap) raw.push({ from: cursor, to: a, squeezed: true })
    else if (a > cursor) raw.push({ from: cursor, to: a, squeezed: false })
    if (b > a) raw.push({ from: a, to: b, squeezed: false })
    cursor = Math.max(cursor, b)
  }
  if (end - cursor > minGap) raw.push({ from: cursor, to: end, squeezed: true })
  else if (end > cursor) raw.push({ from: cursor, to: end, squeezed: false })
  if (raw.length === 0) raw.push({ from: start, to: start + total, squeezed: false })
  const kept = raw.filter((p) => !p.squeezed).reduce((n, p) => n + p.to - p.from, 0) || total
  const squeezedWidth = kept * 0.04
  const weights = raw.map((p) => p.squeezed ? squeezedWidth : p.to - p.from)
  const sum = weights.reduce((n, w) => n + w, 0) || 1
  let x = 0
  const pieces: Array<Piece> = raw.map((p, i) => {
    const x0 = x
    x += weights[i]! / sum
    return { ...p, x0, x1: x }
  })
  const find = (t: number) => pieces.find((p) => t <= p.to) ?? pieces.at(-1)!
  const toX = (t: number) => {
    const p = find(t)
    if (t <= p.from) return p.x0
    return p.x0 + (p.x1 - p.x0) * ((t - p.from) / Math.max(1e-9, p.to - p.from))
  }
  const invert = (x: number) => {
    const p = pieces.find((q) => x <= q.x1) ?? pieces.at(-1)!
    return p.from + (p.to - p.from) * ((x - p.x0) / Math.max(1e-9, p.x1 - p.x0))
  }
  const step = niceStep(kept, 8)
  const ticks: Array<{ t: number; x: number; label: string }> = []
  for (const p of pieces) {
    if (p.squeezed) continue
    for (let t = start + Math.ceil((p.from - start) / step) * step; t <= p.to; t += step) {
      ticks.push({ t, x: toX(t), label: tickLabel(t - start, step) })
    }
  }
  return {
    start,
    end: start + total,
    x: toX,
    invert,
    gaps: pieces.filter((p) => p.squeezed).map((p) => ({ from: p.from, to: p.to, x: p.x0, width: p.x1 - p.x0 })),
    ticks
  }
}
