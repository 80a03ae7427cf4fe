/**
 * `/compare?a=RUN&b=RUN`: two runs' steps aligned by agent, step name and occurrence, what differs
 * in each (input and output as the JSON paths of the differences, status, model), and the deltas
 * B − A of latency, tokens and cost per step, per agent and in total.
 */
import { useEffect, useState } from "preact/hooks"
import { differs } from "../../src/internal/compareModel.js"
import { CompareDetail } from "./CompareDetail.js"
import { type DiffDelta, type DiffRow, type DiffSide, enc, get, type RunDiff } from "./api.js"
import { count, duration, shortId, signedCount, signedDuration, signedMoney, totalCost } from "./format.js"
import { comparePath, Link, type Location, navigate, runPath } from "./router.js"

/** Rows drawn at first; more on demand (a big run has thousands). */
const pageRows = 500

/** `up` (B spends more), `down` (less) or `` for a delta. */
const trend = (delta: number | null) => delta === null || delta === 0 ? "" : delta > 0 ? " up" : " down"

/** What kind of row: only in A, only in B, inherited, changed or same. */
const rowClass = (row: DiffRow) =>
  row.b === null ? "only-a" : row.a === null ? "only-b" : row.inherited ? "inherited" : row.changes.length > 0 ? "changed" : "same"

const Side = (props: { runId: string; side: DiffSide | null }) => {
  const { side } = props
  if (side === null) return <span class="muted">—</span>
  return (
    <span title={`${side.kind}, ${duration(side.latencyMs)}, ${count(side.tokensUsed)} tokens`}>
      <Link href={`${runPath(props.runId)}?step=${side.seq}`}>#{side.seq}</Link>{" "}
      <span class={`c-status ${side.status}`}>{side.status}</span>
      {side.model !== null && <span class="muted"> · {side.model}</span>}
    </span>
  )
}

const DeltaCells = (props: { delta: DiffDelta }) => {
  const { a, b } = props.delta
  return (
    <>
      <td class="n">{count(a.steps)} → {count(b.steps)}</td>
      <td class="n">{duration(a.latencyMs)} → {duration(b.latencyMs)}</td>
      <td class={`n d-lat${trend(props.delta.latencyMs)}`}>{signedDuration(props.delta.latencyMs)}</td>
      <td class="n">{count(a.tokensUsed)} → {count(b.tokensUsed)}</td>
      <td class={`n d-tok${trend(props.delta.tokensUsed)}`}>{signedCount(props.delta.tokensUsed)}</td>
      <td class="n">{totalCost(a.costUsd, a.unpricedSteps)} → {totalCost(b.costUsd, b.unpricedSteps)}</td>
      <td class={`n d-cost${trend(props.delta.costUsd)}`}>{signedMoney(props.delta.costUsd)}</td>
    </>
  )
}

/** A row of the compare, and under it when open the values where A and B differ. */
const CompareRow = (props: { row: DiffRow; rowKey: string; runA: string; runB: string; open: boolean; onToggle: () => void }) => {
  const { row } = props
  return (
    <>
      <tr
        class={`compare-row ${rowClass(row)}`}
        data-row={props.rowKey}
        title="open: the values where A and B differ"
        onClick={(event) => {
          if ((event.target as HTMLElement).closest("a") === null) props.onToggle()
        }}
      >
        <td>{row.agent}</td>
        <td class="c-step">{row.name}</td>
        <td class="n">{row.occurrence + 1}</td>
        <td class="c-a"><Side runId={props.runA} side={row.a} /></td>
        <td class="c-b"><Side runId={props.runB} side={row.b} /></td>
        <td class="c-differs" title={[...row.inputPaths, ...row.outputPaths].join("\n")}>{differs(row)}</td>
        <td class={`n d-lat${trend(row.latencyMs)}`}>{signedDuration(row.latencyMs)}</td>
        <td class={`n d-tok${trend(row.tokensUsed)}`}>{signedCount(row.tokensUsed)}</td>
        <td class={`n d-cost${trend(row.costUsd)}`}>{signedMoney(row.costUsd)}</td>
      </tr>
      {props.open && (
        <tr class="compare-detail" data-row={props.rowKey}>
          <td colSpan={9}><CompareDetail row={row} runA={props.runA} runB={props.runB} /></td>
        </tr>
      )}
    </>
  )
}

/** The page. */
export const ComparePage = (props: { location: Location }) => {
  const a = props.location.query.get("a") ?? ""
  const b = props.location.query.get("b") ?? ""
  const [diff, setDiff] = useState<RunDiff | undefined>(undefined)
  const [error, setError] = useState("")
  const [onlyDiffering, setOnlyDiffering] = useState(false)
  const [shown, setShown] = useState(pageRows)
  // the row opened to show the values where A and B differ
  const [open, setOpen] = useState<string | undefined>(undefined)
  useEffect(() => {
    if (a === "" || b === "") return
    let stopped = false
    setDiff(undefined)
    setError("")
    get<RunDiff>(`/runs/${enc(a)}/diff/${enc(b)}`)
      .then((d) => !stopped && setDiff(d))
      .catch((e) => !stopped && setError(String((e as Error).message)))
    return () => {
      stopped = true
    }
  }, [a, b])
  if (a === "" || b === "") {
    return <main><p><Link href="/">← runs</Link></p><p class="muted">Pick two runs on the runs page to compare them.</p></main>
  }
  if (error) return <main><p><Link href="/">← runs</Link></p><p class="error" role="alert">{error}</p></main>
  if (diff === undefined) return <main><p class="muted">Comparing runs…</p></main>
  // an inherited step is the parent's record, on both sides
  const parent = diff.b.parentRunId === diff.a.id ? diff.a.id : diff.b.id
  const rows = onlyDiffering ? diff.rows.filter((row) => rowClass(row) !== "same" && !row.inherited) : diff.rows
  return (
    <main class="compare-page">
      <header class="run-head">
        <p><Link href="/">← runs</Link></p>
        <h1>Compare runs</h1>
        <dl class="compare-runs">
          {([["A", diff.a], ["B", diff.b]] as const).map(([label, run]) => (
            <div id={`compare-${label.toLowerCase()}`}>
              <dt>{label}</dt>
              <dd>
                <Link href={runPath(run.id)}>{run.name}</Link>
                {run.tags.map((tag) => <span class="tag">{tag}</span>)} <span class={`badge ${run.status}`}>{run.status}</span>{" "}
                <span class="mono muted" title={run.id}>{shortId(run.id)}</span>
                {run.parentRunId !== null && run.parentRunId === (label === "A" ? diff.b.id : diff.a.id) && (
                  <span class="muted"> · fork of {label === "A" ? "B" : "A"}</span>
                )}
              </dd>
            </div>
          ))}
        </dl>
        <p>
          <span id="compare-summary">{count(diff.differing)} of {count(diff.rows.length)} steps differ</span>{" "}
          <button type="button" class="linkish" id="compare-swap" onClick={() => navigate(comparePath(b, a))}>swap A and B</button>
        </p>
      </header>
      <table class="compare-totals">
        <thead>
          <tr>
            <th>agent</th><th class="n">steps A → B</th><th class="n">latency A → B</th><th class="n">Δ</th>
            <th class="n">tokens A → B</th><th class="n">Δ</th><th class="n">cost A → B</th><th class="n">Δ</th>
          </tr>
        </thead>
        <tbody>
          {diff.agents.map((agent) => (
            <tr class="agent-delta" data-agent={agent.agent}><td>{agent.agent}</td><DeltaCells delta={agent} /></tr>
          ))}
          <tr id="compare-total" class="total"><td>total</td><DeltaCells delta={diff.total} /></tr>
        </tbody>
      </table>
      <label class="only-differing">
        <input
          type="checkbox"
          id="only-differing"
          checked={onlyDiffering}
          onChange={(e) => setOnlyDiffering((e.target as HTMLInputElement).checked)}
        />{" "}
        only steps that differ
      </label>
      <table class="compare">
        <thead>
          <tr>
            <th>agent</th><th>step</th><th class="n">#</th><th>A</th><th>B</th><th>differs</th>
            <th class="n">Δ latency</th><th class="n">Δ tokens</th><th class="n">Δ cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, shown).map((row) => {
            const key = `${row.agent}/${row.name}#${row.occurrence + 1}`
            return (
              <CompareRow
                row={row}
                rowKey={key}
                runA={row.inherited ? parent : diff.a.id}
                runB={row.inherited ? parent : diff.b.id}
                open={open === key}
                onToggle={() => setOpen(open === key ? undefined : key)}
              />
            )
          })}
        </tbody>
      </table>
      {rows.length > shown && (
        <p>
          <button type="button" id="more-rows" onClick={() => setShown((n) => n + pageRows)}>
            Show {count(Math.min(pageRows, rows.length - shown))} more of {count(rows.length - shown)}
          </button>
        </p>
      )}
    </main>
  )
}
