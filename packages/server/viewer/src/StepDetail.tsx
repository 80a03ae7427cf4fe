/**
 * The detail of one step: usage, times, input hash, the step it ran inside, its drift, its error
 * (kind, message, data), input and output as JSON trees.
 */
import { useEffect, useState } from "preact/hooks"
import type { StepLike } from "../../src/internal/runModel.js"
import { type Crash, stalledAgent } from "./marks.js"
import type { Place } from "./model.js"
import { enc, get, type Run, type Step, type Summary } from "./api.js"
import { count, duration, localTime, money, offset, shortId, tokenSplit } from "./format.js"
import { JsonText, JsonTree } from "./JsonTree.js"
import { Link, runPath } from "./router.js"

/** Props: the selected step and what the page knows of it. */
export interface StepDetailProps {
  readonly run: Run
  readonly step: Summary
  readonly place: Place | undefined
  readonly original: StepLike | undefined
  /** The crash that cut this step's attempt off, if one did. */
  readonly crash: Crash | undefined
  /** The step whose body called this one, when it is loaded. */
  readonly parent: Summary | undefined
  readonly onSelect: (seq: number) => void
  readonly onClose: () => void
}

/** The panel. The whole record (with input and output) is read on open. */
export const StepDetail = (props: StepDetailProps) => {
  const { run, step } = props
  const [full, setFull] = useState<Step | undefined>(undefined)
  const [error, setError] = useState("")
  useEffect(() => {
    let stopped = false
    setFull(undefined)
    setError("")
    get<ReadonlyArray<Step>>(`/runs/${enc(run.id)}/steps/page`, { afterSeq: step.seq - 1, limit: 1 })
      .then((page) => {
        if (!stopped) setFull(page.find((s) => s.id === step.id) ?? page[0])
      })
      .catch((e) => !stopped && setError(String((e as Error).message)))
    return () => {
      stopped = true
    }
  }, [run.id, step.id])
  const split = tokenSplit(step)
  // the resumes (0.3 on) that returned this record instead of executing the call again
  const replayedBy = (run.replays ?? []).filter((r) => r.steps.some(([from, to]) => step.seq >= from && step.seq < to))
    .map((r) => r.startedAt)
  return (
    <aside class="step-detail" aria-label="step detail">
      <header>
        <h3>#{step.seq} {step.name}</h3>
        <button type="button" class="close" onClick={props.onClose} title="Close">×</button>
      </header>
      <p class="badges">
        <span class={`kind k-${step.kind}`}>{step.kind}</span>
        <span class={`badge ${step.status}`}>{step.status}</span>
        {step.replayed && <span class="badge replayed">↺ replayed</span>}
        {step.drift != null && <span class="badge drift">⚠ drift</span>}
        {props.crash && <span class="badge crashed">✕ crashed</span>}
        {run.stalled != null && <span class="badge stalled">∥ run stalled</span>}
      </p>
      {props.crash && (
        <p class="note warn" id="step-crash">
          ✕ Crash: the process running this attempt died after {offset(props.crash.at - run.startedAt)} (its last record), before
          the attempt ended; the run was resumed at {offset(props.crash.resumedAt - run.startedAt)}.
        </p>
      )}
      {run.stalled != null && (
        <p class="note warn" id="step-stalled">
          ∥ Stalled: the run did not end, and its owner ({run.stalled.owner}) was last seen at{" "}
          {offset(run.stalled.lastSeenAt - run.startedAt)}
          {props.place && stalledAgent(run, props.place.attempt.agent) ? ", while this step's agent was running" : ""}.
        </p>
      )}
      {step.replayed && (
        <p class="note">
          Returned the recorded result without running again.{" "}
          {props.original
            ? (
              <button type="button" class="linkish" id="original-link" onClick={() => props.onSelect(props.original!.seq)}>
                Original execution: #{props.original.seq} ({offset(props.original.startedAt - run.startedAt)})
              </button>
            )
            : run.parentRunId !== null
            ? <Link href={runPath(run.parentRunId)}>Recorded in the parent run</Link>
            : null}
        </p>
      )}
      {replayedBy.length > 0 && (
        <p class="note" id="step-replays">
          ↺ Replayed by {replayedBy.length === 1 ? "the resume" : `${count(replayedBy.length)} resumes`} at{" "}
          {replayedBy.map((at) => offset(at - run.startedAt)).join(", ")}: the recorded result was returned instead of
          running again.
        </p>
      )}
      {step.drift != null && (
        <p class="note warn" id="step-drift">
          Drift: replay found this call's input changed against the recorded call of this step, first at{" "}
          <code id="drift-path">{step.drift}</code>, so it ran again.
        </p>
      )}
      {step.error && (
        <p class="error-box" id="step-error">
          <b>
            {step.status === "interrupted" ? "Interrupted" : "Error"}
            {step.error.kind && <span id="error-kind"> ({step.error.kind})</span>}:
          </b>{" "}
          {step.error.tag && `${step.error.tag}: `}
          {step.error.message}
        </p>
      )}
      <dl class="facts">
        <dt>agent</dt>
        <dd>{props.place ? `${props.place.lane.name} · attempt ${props.place.attempt.number}` : step.agentId}</dd>
        {step.parentId != null && (
          <>
            <dt>inside</dt>
            <dd id="step-parent">
              {props.parent
                ? (
                  <button type="button" class="linkish" id="parent-link" onClick={() => props.onSelect(props.parent!.seq)}>
                    #{props.parent.seq} {props.parent.name}
                  </button>
                )
                : <span class="mono" title={step.parentId}>step {shortId(step.parentId)}</span>}
            </dd>
          </>
        )}
        <dt>started</dt>
        <dd title={localTime(step.startedAt)}>{offset(step.startedAt - run.startedAt)}</dd>
        <dt>latency</dt>
        <dd>{duration(step.latencyMs)}</dd>
        <dt>tokens</dt>
        <dd id="step-tokens">{count(step.tokensUsed)}{split && <span class="muted"> ({split})</span>}</dd>
        <dt>cost</dt>
        <dd id="step-cost">{money(step.costUsd)}</dd>
        {step.model != null && <><dt>model</dt><dd id="step-model">{step.model}</dd></>}
        <dt>input hash</dt>
        <dd class="mono" id="input-hash">{step.inputHash}</dd>
        <dt>step id</dt>
        <dd class="mono">{step.id}</dd>
      </dl>
      {error && <p class="error">{error}</p>}
      {step.error?.data !== undefined && (
        <>
          <h4>Error data</h4>
          <div id="step-error-data"><JsonTree value={step.error.data} /></div>
        </>
      )}
      <h4>Input</h4>
      <div id="step-input">{full ? <JsonText text={full.input} /> : <p class="muted">loading…</p>}</div>
      <h4>Output</h4>
      <div id="step-output">{full ? <JsonText text={full.output} /> : <p class="muted">loading…</p>}</div>
    </aside>
  )
}
