/**
 * Finding steps: the filter bar over the steps list (agent, kind, status, text in the step's
 * name, text in its input, output or error), kept in the page's URL so a filtered list can be
 * linked, and the steps it finds, read from the server (`/timeline` with the filter) page by
 * page in seq order: the first page at once, the rest in the background.
 */
import { useEffect, useState } from "preact/hooks"
import { enc, get, type Summary } from "./api.js"
import type { Lane } from "./model.js"
import { type Location, navigate, runPath } from "./router.js"

const kinds = ["llm_call", "tool_call", "retrieval", "function", "handoff", "custom"] as const
const statuses = ["failed", "replayed", "drifted", "completed", "running", "interrupted"] as const
const fields = ["agent", "kind", "status", "name", "text"] as const
const firstPage = 500
const nextPage = 5000

/** A filter of the steps, as the URL and the API name its fields. */
export type StepFilter = Partial<Record<typeof fields[number], string>>

/** The filter in the page's URL (`?agent=&kind=&status=&name=&text=`); undefined when none is set. */
export const filterOf = (query: URLSearchParams): StepFilter | undefined => {
  const filter: Record<string, string> = {}
  for (const field of fields) {
    const value = query.get(field)
    if (value !== null && value !== "") filter[field] = value
  }
  return Object.keys(filter).length === 0 ? undefined : filter
}

/** The steps a filter found so far. `version` changes whenever `steps` grew. */
export interface Found {
  readonly steps: ReadonlyArray<Summary>
  readonly complete: boolean
  readonly version: number
  readonly error: string
}

/** The steps of the run that `filter` finds; undefined when there is no filter. */
export const useFoundSteps = (runId: string, filter: StepFilter | undefined): Found | undefined => {
  const key = filter === undefined ? "" : JSON.stringify(filter)
  const [found, setFound] = useState<Found | undefined>(undefined)
  useEffect(() => {
    if (filter === undefined) {
      setFound(undefined)
      return
    }
    let stopped = false
    let version = 0
    const steps: Array<Summary> = []
    setFound({ steps, complete: false, version, error: "" })
    const load = async () => {
      let after: number | undefined
      for (let limit = firstPage;; limit = nextPage) {
        const page = await get<ReadonlyArray<Summary>>(`/runs/${enc(runId)}/timeline`, { ...filter, afterSeq: after, limit })
        if (stopped) return
        for (const step of page) steps.push(step)
        const more = page.length === limit
        setFound({ steps, complete: !more, version: ++version, error: "" })
        if (!more) return
        after = page.at(-1)!.seq
      }
    }
    load().catch((e) => {
      if (!stopped) setFound({ steps, complete: true, version: ++version, error: String((e as Error).message ?? e) })
    })
    return () => {
      stopped = true
    }
  }, [runId, key])
  return found
}

/** The bar: the selects apply at once, the two texts on Enter or Find. */
export const StepFilterBar = (props: {
  runId: string
  lanes: ReadonlyArray<Lane>
  filter: StepFilter | undefined
  location: Location
}) => {
  const current = props.filter ?? {}
  const [name, setName] = useState(current.name ?? "")
  const [text, setText] = useState(current.text ?? "")
  const apply = (changes: StepFilter) => {
    const query = new URLSearchParams(props.location.query)
    for (const [field, value] of Object.entries({ ...current, name, text, ...changes })) {
      if (value) query.set(field, value)
      else query.delete(field)
    }
    const qs = query.toString()
    navigate(`${runPath(props.runId)}${qs === "" ? "" : `?${qs}`}`, true)
  }
  const choice = (field: "agent" | "kind" | "status", label: string, values: ReadonlyArray<string>) => (
    <select
      id={`filter-${field}`}
      aria-label={label}
      value={current[field] ?? ""}
      onChange={(event) => apply({ [field]: (event.target as HTMLSelectElement).value })}
    >
      <option value="">{label}</option>
      {values.map((value) => <option value={value}>{value}</option>)}
    </select>
  )
  return (
    <form
      class="toolbar step-filter"
      aria-label="find steps"
      onSubmit={(event) => {
        event.preventDefault()
        apply({})
      }}
    >
      {choice("agent", "any agent", props.lanes.map((lane) => lane.name))}
      {choice("kind", "any kind", kinds)}
      {choice("status", "any status", statuses)}
      <input
        id="filter-name"
        type="search"
        placeholder="step name"
        value={name}
        onInput={(event) => setName((event.target as HTMLInputElement).value)}
      />
      <input
        id="filter-text"
        type="search"
        placeholder="text in input, output or error"
        value={text}
        onInput={(event) => setText((event.target as HTMLInputElement).value)}
      />
      <button type="submit">Find</button>
      {props.filter !== undefined && (
        <button
          type="button"
          id="filter-clear"
          onClick={() => {
            setName("")
            setText("")
            apply({ agent: "", kind: "", status: "", name: "", text: "" })
          }}
        >
          Clear
        </button>
      )}
    </form>
  )
}
