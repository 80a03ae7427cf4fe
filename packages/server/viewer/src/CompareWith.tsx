/**
 * "compare with…" on a run's page: the run's forks (the compare: this run as A, the fork as B) and
 * the other runs of its name, newest first (the compare: the one chosen as A, this run as B).
 */
import { useEffect, useState } from "preact/hooks"
import { get, type Run } from "./api.js"
import { localTime, shortId } from "./format.js"
import { comparePath, navigate } from "./router.js"

/** How many runs of each kind are offered. */
const offered = 20

const label = (run: Run) => `${shortId(run.id)} · ${localTime(run.startedAt)}${run.tags.length > 0 ? ` · ${run.tags.join(", ")}` : ""}`

/** The picker; nothing when the run has no fork and no other run of its name. */
export const CompareWith = (props: { run: Run }) => {
  const { run } = props
  const [forks, setForks] = useState<ReadonlyArray<Run>>([])
  const [named, setNamed] = useState<ReadonlyArray<Run>>([])
  useEffect(() => {
    let stopped = false
    Promise.all([
      get<ReadonlyArray<Run>>("/runs", { parentRunId: run.id, limit: offered }),
      get<ReadonlyArray<Run>>("/runs", { name: run.name, limit: offered + 1 })
    ]).then(([f, n]) => {
      if (stopped) return
      setForks(f)
      setNamed(n.filter((other) => other.id !== run.id && other.parentRunId !== run.id).slice(0, offered))
    }, () => {})
    return () => {
      stopped = true
    }
  }, [run.id, run.name])
  if (forks.length + named.length === 0) return null
  return (
    <select
      id="compare-with"
      aria-label="compare with a fork or another run of this name"
      value=""
      onChange={(event) => {
        const other = (event.target as HTMLSelectElement).value
        if (other === "") return
        navigate(forks.some((fork) => fork.id === other) ? comparePath(run.id, other) : comparePath(other, run.id))
      }}
    >
      <option value="">compare with…</option>
      {forks.length > 0 && (
        <optgroup label="forks of this run">
          {forks.map((fork) => <option value={fork.id}>{fork.name} · {label(fork)}</option>)}
        </optgroup>
      )}
      {named.length > 0 && (
        <optgroup label={`other runs named ${run.name}`}>
          {named.map((other) => <option value={other.id}>{label(other)}</option>)}
        </optgroup>
      )}
    </select>
  )
}
