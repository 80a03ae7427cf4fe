/** The run's checkpoints, and the diff of any two: state keys added, removed, changed (both values), steps between. */
import { useEffect, useState } from "preact/hooks"
import { stateValue } from "../../src/internal/runModel.js"
import { type Checkpoint, type CheckpointDiff, enc, get, type Run } from "./api.js"
import { count, offset, totalCost } from "./format.js"
import { JsonTree } from "./JsonTree.js"

const covered = (c: Checkpoint) => c.covered.reduce((n, [a, b]) => n + b - a, 0)

const Value = (props: { value: unknown }) =>
  props.value === undefined ? <span class="muted">(absent)</span> : <JsonTree value={props.value} />

/** The panel. */
export const CheckpointsPanel = (props: { run: Run; checkpoints: ReadonlyArray<Checkpoint>; onSelect: (seq: number) => void }) => {
  const { run, checkpoints } = props
  const [from, setFrom] = useState<string | undefined>(undefined)
  const [to, setTo] = useState<string | undefined>(undefined)
  const [diff, setDiff] = useState<CheckpointDiff | undefined>(undefined)
  const [error, setError] = useState("")
  const a = checkpoints.find((c) => c.id === from) ?? checkpoints.at(-2)
  const b = checkpoints.find((c) => c.id === to) ?? checkpoints.at(-1)
  useEffect(() => {
    if (a === undefined || b === undefined || a.id === b.id) return setDiff(undefined)
    let stopped = false
    setError("")
    get<CheckpointDiff>(`/checkpoints/${enc(a.id)}/diff/${enc(b.id)}`)
      .then((d) => !stopped && setDiff(d))
      .catch((e) => !stopped && setError(String((e as Error).message)))
    return () => {
      stopped = true
    }
  }, [a?.id, b?.id])
  if (checkpoints.length === 0) return <section class="checkpoints"><h2>Checkpoints</h2><p class="muted">No checkpoints.</p></section>
  return (
    <section class="checkpoints" aria-label="checkpoints">
      <h2>Checkpoints</h2>
      <table class="cp-table">
        <thead>
          <tr><th>A</th><th>B</th><th>version</th><th>name</th><th>taken</th><th class="n">steps</th><th class="n">tokens</th><th class="n">cost</th></tr>
        </thead>
        <tbody>
          {checkpoints.map((c) => (
            <tr key={c.id} data-checkpoint={c.id}>
              <td><input type="radio" name="cp-a" aria-label={`A: v${c.version}`} checked={a?.id === c.id} onChange={() => setFrom(c.id)} /></td>
              <td><input type="radio" name="cp-b" aria-label={`B: v${c.version}`} checked={b?.id === c.id} onChange={() => setTo(c.id)} /></td>
              <td>v{c.version}</td>
              <td>{c.name}</td>
              <td>{offset(c.createdAt - run.startedAt)}</td>
              <td class="n">{count(covered(c))}</td>
              <td class="n">{count(c.tokensUsed)}</td>
              <td class="n">{totalCost(c.costUsd, c.unpricedSteps)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {error && <p class="error">{error}</p>}
      {a && b && a.id === b.id && <p class="muted">Pick two different checkpoints to compare.</p>}
      {diff && a && b && (
        <div class="diff" id="checkpoint-diff">
          <h3>v{a.version} {a.name} → v{b.version} {b.name}</h3>
          {diff.added.length + diff.removed.length + diff.changed.length === 0 && <p class="muted">No state changed.</p>}
          <table class="diff-table">
            <tbody>
              {diff.added.map((key) => (
                <tr class="d-added" data-key={key}><td class="sign">+</td><td class="mono">{key}</td><td /><td><Value value={stateValue(b, key)} /></td></tr>
              ))}
              {diff.removed.map((key) => (
                <tr class="d-removed" data-key={key}><td class="sign">−</td><td class="mono">{key}</td><td><Value value={stateValue(a, key)} /></td><td /></tr>
              ))}
              {diff.changed.map((key) => (
                <tr class="d-changed" data-key={key}>
                  <td class="sign">~</td><td class="mono">{key}</td>
                  <td class="before"><Value value={stateValue(a, key)} /></td>
                  <td class="after"><Value value={stateValue(b, key)} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          <h4>{diff.steps.length} step(s) completed between</h4>
          <ul class="between">
            {diff.steps.slice(0, 200).map((s) => (
              <li>
                <button type="button" class="linkish" onClick={() => props.onSelect(s.seq)}>#{s.seq} {s.name}</button>
                <span class="muted"> {s.kind}{s.replayed ? " · replayed" : ""}</span>
              </li>
            ))}
            {diff.steps.length > 200 && <li class="muted">… {diff.steps.length - 200} more</li>}
          </ul>
        </div>
      )}
    </section>
  )
}
