/** "compare with…" on a run's page: the other runs of the same name, newest first; one opens the compare (A: it, B: this run). */
import { useEffect, useState } from "preact/hooks"
import { get, type Run } from "./api.js"
import { localTime, shortId } from "./format.js"
import { comparePath, navigate } from "./router.js"

/** How many runs of the same name are offered. */
const offered = 20

/** The picker; nothing when the run has no other run of its name. */
export const CompareWith = (props: { run: Run }) => {
  const { run } = props
  const [others, setOthers] = useState<ReadonlyArray<Run>>([])
  useEffect(() => {
    let stopped = false
    get<ReadonlyArray<Run>>("/runs", { name: run.name, limit: offered + 1 })
      .then((runs) => !stopped && setOthers(runs.filter((other) => other.id !== run.id).slice(0, offered)))
      .catch(() => !stopped && setOthers([]))
    return () => {
      stopped = true
    }
  }, [run.id, run.name])
  if (others.length === 0) return null
  return (
    <select
      id="compare-with"
      aria-label="compare with another run of this name"
      value=""
      onChange={(event) => {
        const other = (event.target as HTMLSelectElement).value
        if (other !== "") navigate(comparePath(other, run.id))
      }}
    >
      <option value="">compare with…</option>
      {others.map((other) => (
        <option value={other.id}>
          {shortId(other.id)} · {localTime(other.startedAt)}{other.tags.length > 0 ? ` · ${other.tags.join(", ")}` : ""}
        </option>
      ))}
    </select>
  )
}
