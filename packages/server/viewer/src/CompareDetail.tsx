/**
 * A row of a compare opened: the values of A and B at each JSON path where their input and output
 * differ (a step of one run only: its input and output), and the error of a failed side. The two
 * step records are read when the row opens.
 */
import { useEffect, useState } from "preact/hooks"
import { type DiffRow, enc, get, type Step } from "./api.js"
import { JsonText, JsonTree } from "./JsonTree.js"

/** A JSON path's segments after its root: `.key`, `[3]`, `["a b"]` (as core writes them). */
const segment = /\.([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g

/** The value at a JSON path (`output.sections[2]`) of a record's JSON text; `undefined` when absent. */
export const valueAt = (text: string | null, path: string): unknown => {
  let value: unknown = text === null ? null : JSON.parse(text)
  for (const match of path.replace(/^(input|output)/, "").matchAll(segment)) {
    if (value === null || typeof value !== "object") return undefined
    const key = match[1] ?? (match[2] !== undefined ? Number(match[2]) : JSON.parse(match[3]!) as string)
    value = (value as Record<string | number, unknown>)[key]
  }
  return value
}

/** The step of `runId` at `seq`. */
const stepAt = (runId: string, seq: number) =>
  get<ReadonlyArray<Step>>(`/runs/${enc(runId)}/steps/page`, { afterSeq: seq - 1, limit: 1 }).then((steps) => steps[0])

const Value = (props: { value: unknown }) =>
  props.value === undefined ? <span class="muted">(absent)</span> : <JsonTree value={props.value} />

/** The opened row's content, under the row (`runA`, `runB`: the runs holding its A and B steps). */
export const CompareDetail = (props: { row: DiffRow; runA: string; runB: string }) => {
  const { row } = props
  const [steps, setSteps] = useState<readonly [Step | undefined, Step | undefined] | undefined>(undefined)
  const [error, setError] = useState("")
  useEffect(() => {
    let stopped = false
    Promise.all([
      row.a === null ? undefined : stepAt(props.runA, row.a.seq),
      row.b === null ? undefined : stepAt(props.runB, row.b.seq)
    ]).then((found) => !stopped && setSteps(found), (e) => !stopped && setError(String((e as Error).message)))
    return () => {
      stopped = true
    }
  }, [props.runA, props.runB, row.a?.id, row.b?.id])
  if (error) return <p class="error">{error}</p>
  if (steps === undefined) return <p class="muted">Loading the steps…</p>
  const [a, b] = steps
  const only = a === undefined ? b : b === undefined ? a : undefined
  if (only !== undefined) {
    return (
      <div class="compare-detail-body">
        <h4>input</h4>
        <JsonText text={only.input} />
        <h4>output</h4>
        <JsonText text={only.output} />
      </div>
    )
  }
  if (a === undefined || b === undefined) return null
  const paths = [...row.inputPaths.map((path) => [path, a.input, b.input] as const), ...row.outputPaths.map((path) => [path, a.output, b.output] as const)]
  return (
    <div class="compare-detail-body">
      {paths.length === 0
        ? <p class="muted">Input and output are the same.</p>
        : (
          <table class="diff-table">
            <thead><tr><th>path</th><th>A</th><th>B</th></tr></thead>
            <tbody>
              {paths.map(([path, before, after]) => (
                <tr class="d-changed" data-path={path}>
                  <td class="mono">{path}</td>
                  <td class="before"><Value value={valueAt(before, path)} /></td>
                  <td class="after"><Value value={valueAt(after, path)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      {[a, b].map((step, i) =>
        step.error === null ? null : <p class="error-box">{i === 0 ? "A" : "B"} failed: {step.error.message}</p>
      )}
    </div>
  )
}
