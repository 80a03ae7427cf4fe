/**
 * What the viewer and the command line say of a row of a compare of two runs (`RunDiff`). Plain
 * functions over plain records, also bundled into the browser viewer.
 */
/** A row of a compare of two runs as read here (`RunDiff.Row`). */
export interface CompareRowLike {
  readonly a: { readonly status: string; readonly model: string | null } | null
  readonly b: { readonly status: string; readonly model: string | null } | null
  readonly changes: ReadonlyArray<"input" | "output" | "status" | "model">
  readonly inherited: boolean
  readonly inputPaths: ReadonlyArray<string>
  readonly outputPaths: ReadonlyArray<string>
}

/** The paths of a change: the first, and how many more. */
const firstPaths = (found: ReadonlyArray<string>): string =>
  found.length === 0 ? "" : ` (${found[0]}${found.length > 1 ? `, +${found.length - 1}` : ""})`

/**
 * What differs in a row of a compare: `only in A`, `only in B`, `inherited` (a fork's step of its
 * parent), `same`, or the changes (`input (input.q), output (output.text, +2), status completed →
 * failed, model m1 → m2`).
 */
export const differs = (row: CompareRowLike): string => {
  if (row.b === null) return "only in A"
  if (row.a === null) return "only in B"
  if (row.inherited) return "inherited"
  if (row.changes.length === 0) return "same"
  const { a, b } = row
  return row.changes.map((change) => {
    switch (change) {
      case "input":
        return `input${firstPaths(row.inputPaths)}`
      case "output":
        return `output${firstPaths(row.outputPaths)}`
      case "status":
        return `status ${a.status} → ${b.status}`
      case "model":
        return `model ${a.model ?? "none"} → ${b.model ?? "none"}`
    }
  }).join(", ")
}
