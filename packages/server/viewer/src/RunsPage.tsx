/**
 * The runs page: search by name, tag or run id (full or short), status filter, cursor paging,
 * live while runs run. A run whose replay found calls with a changed input has ⚠ and their
 * count after its status. Two runs picked with their boxes open their compare.
 */
import { useEffect, useRef, useState } from "preact/hooks"
import { statusOf, wallMs } from "../../src/internal/runModel.js"
import { get, type Run } from "./api.js"
import { count, duration, localTime, now, shortId, totalCost } from "./format.js"
import { comparePath, Link, type Location, navigate, runPath } from "./router.js"

const pageSize = 50
const statuses = ["running", "stalled", "completed", "failed", "interrupted"] as const

/** A run's status badge; a stalled run's says when its owner was last seen. */
export const StatusBadge = (props: { run: Run; id?: string }) => {
  const { run } = props
  const status = statusOf(run)
  const title = run.stalled == null
    ? undefined
    : `running, but its owner (${run.stalled.owner}) was last seen ${localTime(run.stalled.lastSeenAt)}`
  return <span class={`badge ${status}`} id={props.id} title={title}>{status}</span>
}

/** `tag:nightly` searches that tag exactly; any other text searches names and tags. */
const queryOf = (search: string): { search?: string; tag?: string } => {
  const text = search.trim()
  if (text.startsWith("tag:")) return { tag: text.slice(4).trim() }
  return text === "" ? {} : { search: text }
}

/** The page. The search, status and cursor live in the URL (`?q=&status=&cursor=`). */
export const RunsPage = (props: { location: Location }) => {
  const q = props.location.query.get("q") ?? ""
  const status = props.location.query.get("status") ?? ""
  const cursor = props.location.query.get("cursor") ?? ""
  const [runs, setRuns] = useState<ReadonlyArray<Run> | undefined>(undefined)
  const [error, setError] = useState("")
  const [text, setText] = useState(q)
  const [, tick] = useState(0)
  const history = useRef<Array<string>>([])
  // the runs picked to compare, in the order picked (a third pick drops the first)
  const [picked, setPicked] = useState<ReadonlyArray<string>>([])
  const pick = (runId: string, on: boolean) =>
    setPicked((ids) => on ? [...ids.filter((id) => id !== runId), runId].slice(-2) : ids.filter((id) => id !== runId))

  const go = (params: { q?: string; status?: string; cursor?: string }, replace = false) => {
    const next = new URLSearchParams()
    const merged = { q, status, cursor, ...params }
    for (const [name, value] of Object.entries(merged)) if (value) next.set(name, value)
    const qs = next.toString()
    navigate(qs === "" ? "/" : `/?${qs}`, replace)
  }

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const load = async () => {
      try {
        const page = await get<ReadonlyArray<Run>>("/runs", {
          limit: pageSize + 1,
          status: status || undefined,
          cursor: cursor || undefined,
          // the cursor param routes the request to the paging query, which also searches
          ...queryOf(q)
        })
        if (stopped) return
        setRuns(page)
        setError("")
        // live: the first page shows new runs, any page updates running ones
        if (cursor === "" || page.some((run) => run.status === "running")) timer = setTimeout(load, 2000)
      } catch (e) {
        if (!stopped) setError(String((e as Error).message))
      }
    }
    load()
    const clock = setInterval(() => tick((n) => n + 1), 1000)
    return () => {
      stopped = true
      clearTimeout(timer)
      clearInterval(clock)
    }
  }, [q, status, cursor])

  const shown = runs?.slice(0, pageSize) ?? []
  const hasNext = (runs?.length ?? 0) > pageSize
  const last = shown.at(-1)
  return (
    <main class="runs-page">
      <form
        class="toolbar"
        onSubmit={(event) => {
          event.preventDefault()
          history.current = []
          go({ q: text, cursor: "" })
        }}
      >
        <input
          id="search"
          type="search"
          placeholder="Search name, tag or run id (tag:nightly for an exact tag)"
          value={text}
          onInput={(event) => setText((event.target as HTMLInputElement).value)}
        />
        <select
          id="status"
          value={status}
          onChange={(event) => {
            history.current = []
            go({ status: (event.target as HTMLSelectElement).value, cursor: "" })
          }}
        >
          <option value="">any status</option>
          {statuses.map((s) => <option value={s}>{s}</option>)}
        </select>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <p class="compare-bar">
        <button
          type="button"
          id="compare-picked"
          disabled={picked.length !== 2}
          onClick={() => navigate(comparePath(picked[0]!, picked[1]!))}
        >
          Compare
        </button>{" "}
        <span class="muted">{picked.length === 2 ? "A: the first run picked, B: the second" : "pick two runs to compare"}</span>
      </p>
      <table class="runs">
        <thead>
          <tr>
            <th></th><th>id</th><th>name</th><th>status</th><th>started</th><th class="n">wall</th><th class="n">steps</th>
            <th class="n">tokens</th><th class="n">cost</th><th>parent / fork</th>
          </tr>
        </thead>
        <tbody>
          {runs !== undefined && shown.length === 0 && (
            <tr><td colSpan={10} class="empty">{q || status ? "No runs match." : "No runs yet."}</td></tr>
          )}
          {shown.map((run) => (
            <tr class="run-row" data-run-id={run.id} key={run.id}>
              <td>
                <input
                  type="checkbox"
                  class="compare-pick"
                  aria-label={`compare ${run.name}`}
                  checked={picked.includes(run.id)}
                  onChange={(event) => pick(run.id, (event.target as HTMLInputElement).checked)}
                />
              </td>
              <td class="mono run-id" title={run.id}>{shortId(run.id)}</td>
              <td>
                <Link href={runPath(run.id)} class="run-name">{run.name}</Link>
                {run.tags.map((tag) => <span class="tag">{tag}</span>)}
              </td>
              <td>
                <StatusBadge run={run} />
                {(run.drifts ?? 0) > 0 && (
                  <span class="drift-mark run-drift" title="calls replay found with a changed input (drift)"> ⚠ {count(run.drifts ?? 0)}</span>
                )}
              </td>
              <td>{localTime(run.startedAt)}</td>
              <td class="n wall">{duration(wallMs(run, now()))}</td>
              <td class="n">{count(run.stepCount)}</td>
              <td class="n">{count(run.tokensUsed)}</td>
              <td class="n">{totalCost(run.costUsd, run.unpricedSteps)}</td>
              <td>
                {run.parentRunId !== null && (
                  <Link href={runPath(run.parentRunId)} title={`forked from checkpoint ${run.forkedFrom ?? "?"}`}>
                    fork of {shortId(run.parentRunId)}
                  </Link>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager">
        <button
          type="button"
          disabled={cursor === ""}
          onClick={() => go({ cursor: history.current.pop() ?? "" })}
        >
          ← Newer
        </button>
        <button
          type="button"
          id="next-page"
          disabled={!hasNext || last === undefined}
          onClick={() => {
            history.current.push(cursor)
            go({ cursor: `${last!.startedAt}:${last!.id}` })
          }}
        >
          Older →
        </button>
      </nav>
    </main>
  )
}
