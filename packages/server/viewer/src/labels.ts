/**
 * Label placement for the waterfall: every text on the axis and in the lanes is laid out in
 * pixels before it is drawn, so no two labels overlap and none leaves the plot. Labels are placed
 * in priority order; one that would collide is nudged a little, then moved to another row, then
 * shortened, and dropped last (its mark keeps the full text in its title).
 */

/** A label to place: where it points, how it may read, and which rows it may use. */
export interface LabelRequest {
  readonly key: string
  /** The point it labels, in px from the plot's left edge. */
  readonly x: number
  /** Its texts, longest first: a shorter one is used when the longer does not fit. */
  readonly texts: ReadonlyArray<string>
  /** `start`: the label begins at `x`; `end`: it ends there; `center`: centred on it. */
  readonly align: "start" | "center" | "end"
  /** The rows it may go to, in order of preference. */
  readonly rows: ReadonlyArray<number>
}

/** A placed label: its text and box (px from the plot's left edge). */
export interface PlacedLabel {
  readonly key: string
  readonly text: string
  readonly row: number
  readonly left: number
  readonly width: number
}

/** The space kept between two labels of a row, in px. */
const spacing = 3
/** How far a label may be pushed from its point to clear another, in px. */
const maxNudge = 18

/**
 * Places `requests` (highest priority first) in a plot `width` px wide, with `measure` giving a
 * text's width in px. Returns the labels kept, none overlapping another of its row, all inside
 * `[0, width]`.
 */
export const placeLabels = (
  requests: ReadonlyArray<LabelRequest>,
  width: number,
  measure: (text: string) => number
): Array<PlacedLabel> => {
  const placed: Array<PlacedLabel> = []
  const free = (row: number, left: number, w: number) =>
    left >= 0 && left + w <= width &&
    placed.every((p) => p.row !== row || left + w + spacing <= p.left || p.left + p.width + spacing <= left)
  const clamp = (left: number, w: number) => Math.min(Math.max(0, left), width - w)
  const fit = (request: LabelRequest, text: string, row: number): PlacedLabel | undefined => {
    const w = Math.ceil(measure(text)) + 2
    if (w > width) return undefined
    const wanted = clamp(request.align === "start" ? request.x : request.align === "end" ? request.x - w : request.x - w / 2, w)
    // where it wants to be, else just clear of each neighbour on either side, if close enough
    const candidates = [wanted]
    for (const p of placed) {
      if (p.row !== row) continue
      candidates.push(p.left + p.width + spacing, p.left - spacing - w)
    }
    const best = candidates
      .filter((left) => Math.abs(left - wanted) <= maxNudge && free(row, left, w))
      .sort((a, b) => Math.abs(a - wanted) - Math.abs(b - wanted))[0]
    return best === undefined ? undefined : { key: request.key, text, row, left: best, width: w }
  }
  for (const request of requests) {
    let label: PlacedLabel | undefined
    // the longest text that fits in any row
    for (const text of request.texts) {
      for (const row of request.rows) {
        label = fit(request, text, row)
        if (label !== undefined) break
      }
      if (label !== undefined) break
    }
    if (label !== undefined) placed.push(label)
  }
  return placed
}

/**
 * The texts of `texts` (longest first) that fit in `room` px, so that labels of one kind close
 * together each take a short text rather than the first taking a long one and the others none;
 * the shortest is kept whatever the room.
 */
export const textsWithin = (texts: ReadonlyArray<string>, room: number, measure: (text: string) => number): Array<string> => {
  const fitting = texts.filter((text) => Math.ceil(measure(text)) + 2 + spacing <= room)
  return fitting.length > 0 ? fitting : texts.slice(-1)
}

let context: CanvasRenderingContext2D | null | undefined

/** The width in px of `text` drawn in `font` (a CSS font shorthand), as the browser measures it. */
export const textWidth = (font: string, text: string): number => {
  if (context === undefined) context = document.createElement("canvas").getContext("2d")
  if (context === null) return text.length * 7
  context.font = font
  return context.measureText(text).width
}
