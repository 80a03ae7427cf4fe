/** One run: header with totals, the waterfall, the virtualised steps, step detail and checkpoints. */
import { useEffect, useMemo, useRef, useState } from "preact/hooks"
import { resumeCode, wallMs } from "../../src/internal/runModel.js"
import { download, enc, type Summary } from "./api.js"
import { CheckpointsPanel } from "./CheckpointsPanel.js"
import { CompareWith } from "./CompareWith.js"
import { count, duration, localTime, now, shortId, tokenSplit, totalCost } from "./format.js"
import { viewOf } from "./model.js"
import { comparePath, Link, type Location, navigate, runPath } from "./router.js"
import { StatusBadge } from "./RunsPage.js"
import { StepDetail } from "./StepDetail.js"
import { useKeys } from "./keys.js"
import { filterOf, StepFilterBar, useFoundSteps } from "./StepFilter.js"
import { indexOfSeq, StepsTable } from "./StepsTable.js"
import { Timeline } from "./Timeline.js"
import { useRun } from "./useRun.js"

/** The page of `/runs/:runId` (`?step=SEQ` selects a step). */
export const RunPage = (props: { runId: string; location: Location }) => {
  const selectedParam = props.location.query.get("step")
  const selectedSeq = selectedParam === null ? undefined : Number(selectedParam)
  const { data, error } = useRun(props.runId, selectedSeq)
  const filter = filterOf(props.location.query)
  const found = useFoundSteps(props.runId, filter)
  const view = useMemo(() => data === undefined ? undefined : viewOf(data), [data?.version])
  const marked = useRef(false)
  useEffect(() => {
    if (view === undefined || marked.current) return
    marked.current = true
    requestAnimationFrame(() => {
      performance.mark("multirun:first-screen")
      document.body.dataset.firstScreen = "drawn"
    })
  }, [view])
  const select = (seq: number | undefined) => {
    const query = new URLSearchParams(props.location.query)
    if (seq === undefined) query.delete("step")
    else query.set("step", String(seq))
    const qs = query.toString()
    navigate(`${runPath(props.runId)}${qs === "" ? "" : `?${qs}`}`, true)
  }
  // j / k: the next / previous step (the first / last when none is selected); Esc closes the detail
  const move = (by: number) => {
    const steps = data?.steps ?? []
    if (steps.length === 0) return
    const at = selectedSeq === undefined ? -1 : indexOfSeq(steps, selectedSeq)
    const next = at < 0 ? (by > 0 ? 0 : steps.length - 1) : Math.min(steps.length - 1, Math.max(0, at + by))
    select(steps[next]!.seq)
  }
  useKeys({ j: () => move(1), k: () => move(-1), Escape: () => selectedSeq !== undefined && select(undefined) })
  const [exportError, setExportError] = useState("")
  if (error && data === undefined) return <main><p class="error" role="alert">{error}</p><Link href="/">← runs</Link></main>
  if (data === undefined || view === undefined) return <main><p class="muted">Loading run…</p></main>
  const { run } = data
  const stepIn = (steps: ReadonlyArray<Summary>) => selectedSeq === undefined ? undefined : steps[indexOfSeq(steps, selectedSeq)]
  const selected = (found === undefined ? undefined : stepIn(found.steps)) ?? stepIn(data.steps)
  const wall = wallMs(run, now())
  const drifts = run.drifts ?? 0
  const split = tokenSplit(run)
  return (
    <main class="run-page">
      <header class="run-head">
        <p><Link href="/">← runs</Link></p>
        <h1>
          {run.name} <StatusBadge run={run} id="run-status" />
        </h1>
        <p class="muted mono">{run.id}</p>
        <p class="run-actions">
          <CompareWith run={run} />
          <button
            type="button"
            id="export-run"
            title="The run with its agents, steps and checkpoints as JSON lines, as `multirun export` prints it"
            onClick={() => {
              setExportError("")
              download(`/runs/${enc(run.id)}/export`, `run-${run.id}.jsonl`).catch((e) => setExportError(String((e as Error).message)))
            }}
          >
            Export JSONL
          </button>
          {exportError && <span class="error" role="alert"> {exportError}</span>}
        </p>
        <dl class="totals">
          <div><dt>started</dt><dd>{localTime(run.startedAt)}</dd></div>
          <div><dt>wall time</dt><dd id="wall-time">{duration(wall)}</dd></div>
          <div><dt>steps</dt><dd>{count(run.stepCount)}{view.replayedCount > 0 && <span class="muted"> + {count(view.replayedCount)} replayed</span>}</dd></div>
          <div><dt>tokens</dt><dd id="run-tokens">{count(run.tokensUsed)}{split !== "" && <span class="muted"> ({split})</span>}</dd></div>
          <div>
            <dt>cost</dt>
            <dd id="run-cost">
              {totalCost(run.costUsd, run.unpricedSteps)}
            </dd>
          </div>
          {run.inherited != null && (
            <div>
              <dt>inherited</dt>
              <dd id="run-inherited" title="what this fork replays of its parent run, counted apart from its own totals">
                {count(run.inherited.stepCount)} steps · {count(run.inherited.tokensUsed)} tokens ·{" "}
                {totalCost(run.inherited.costUsd, run.inherited.unpricedSteps)}
              </dd>
            </div>
          )}
          <div><dt>step time (sum)</dt><dd>{duration(run.latencyMs)}</dd></div>
          {drifts > 0 && (
            <div>
              <dt>drift</dt>
              <dd class="warn" id="run-drifts" title="calls replay found with a changed input">
                ⚠ {count(drifts)} {drifts === 1 ? "step" : "steps"}
              </dd>
            </div>
          )}
          {run.tags.length > 0 && <div><dt>tags</dt><dd>{run.tags.map((t) => <span class="tag">{t}</span>)}</dd></div>}
          {run.parentRunId !== null && (
            <div>
              <dt>forked from</dt>
              <dd>
                <Link href={runPath(run.parentRunId)}>run {shortId(run.parentRunId)}</Link>{" · "}
                <Link href={comparePath(run.parentRunId, run.id)} class="compare-parent">compare with parent</Link>
              </dd>
            </div>
          )}
        </dl>
        {run.stalled != null && (
          <p class="stalled-box" id="run-stalled">
            <b>Stalled:</b> the run did not end, and its owner ({run.stalled.owner}) was last seen{" "}
            <span id="owner-last-seen">{localTime(run.stalled.lastSeenAt)}</span>
            {" "}({duration(now() - run.stalled.lastSeenAt)} ago): its lease expired. Resume it with{" "}
            <code>{resumeCode(run)}</code>
          </p>
        )}
        {run.error && <p class="error-box"><b>Error{run.error.kind && ` (${run.error.kind})`}:</b> {run.error.message}</p>}
        {error && <p class="error">{error}</p>}
      </header>
      <Timeline run={run} view={view} version={data.version} checkpoints={data.checkpoints} selectedSeq={selectedSeq} onSelect={select} />
      <div class={`split${selected ? " with-detail" : ""}`}>
        <div>
          <StepFilterBar lanes={view.lanes} filter={filter} location={props.location} runId={props.runId} />
          {found?.error && <p class="error" role="alert" id="filter-error">{found.error}</p>}
          {found === undefined
            ? <StepsTable key="all" run={run} steps={data.steps} hole={data.hole} view={view} version={data.version} complete={data.complete} selectedSeq={selectedSeq} onSelect={select} />
            : <StepsTable key="found" run={run} steps={found.steps} view={view} version={found.version} complete={found.complete} found selectedSeq={selectedSeq} onSelect={select} />}
        </div>
        {selected && (
          <StepDetail
            run={run}
            step={selected}
            place={view.places.get(selected.agentId)}
            original={view.replay.originals.get(selected.id)}
            crash={view.crashes.find((c) => c.cutOff.some((a) => a.id === selected.agentId))}
            parent={selected.parentId == null ? undefined : view.byId.get(selected.parentId)}
            onSelect={select}
            onClose={() => select(undefined)}
          />
        )}
      </div>
      <CheckpointsPanel run={run} checkpoints={data.checkpoints} onSelect={select} />
    </main>
  )
}
