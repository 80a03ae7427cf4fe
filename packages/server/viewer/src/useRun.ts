/**
 * Loads a run for its page: the run, agents and checkpoints, then the steps as summaries page by
 * page (the first page is drawn at once, the rest load in the background), and while the run
 * is running, polls for changes. Steps are kept in one array ordered by seq. A deep link to a
 * step past the first page also reads the page around that step at once: until the pages from
 * the start reach it, the steps between are a hole of the size their seqs tell.
 */
import { useEffect, useRef, useState } from "preact/hooks"
import { type Agent, type Checkpoint, enc, get, type Run, type Summary } from "./api.js"

/** The first page of steps: small enough to draw the first screen quickly. */
export const firstPage = 500
const nextPage = 5000

/**
 * Steps not loaded yet between the pages read from the start and the page around a deep-linked
 * step: they would come before `steps[index]`, and are about `size` rows.
 */
export interface Hole {
  readonly index: number
  readonly size: number
}

/** What the page has of a run. `version` changes whenever `steps` grew or changed. */
export interface RunData {
  readonly run: Run
  readonly agents: ReadonlyArray<Agent>
  readonly checkpoints: ReadonlyArray<Checkpoint>
  readonly steps: ReadonlyArray<Summary>
  readonly hole: Hole | undefined
  readonly complete: boolean
  readonly version: number
}

/** The hole after the steps up to seq `loadedTo`, when steps past it are loaded already. */
const holeOf = (steps: ReadonlyArray<Summary>, loadedTo: number): Hole | undefined => {
  let index = steps.length
  while (index > 0 && steps[index - 1]!.seq > loadedTo) index--
  return index === steps.length ? undefined : { index, size: steps[index]!.seq - loadedTo - 1 }
}

/** Adds a page to the steps (ordered by seq, one entry per step id). */
const merge = (steps: Array<Summary>, index: Map<string, number>, page: ReadonlyArray<Summary>) => {
  let sorted = true
  for (const step of page) {
    const at = index.get(step.id)
    if (at !== undefined) {
      steps[at] = step
      continue
    }
    if (steps.length > 0 && steps[steps.length - 1]!.seq > step.seq) sorted = false
    index.set(step.id, steps.length)
    steps.push(step)
  }
  if (!sorted) {
    steps.sort((a, b) => a.seq - b.seq)
    index.clear()
    steps.forEach((step, i) => index.set(step.id, i))
  }
}

/** The seq below which every step is loaded (steps are written when they end, not in seq order). */
const contiguous = (steps: ReadonlyArray<Summary>) => {
  let i = 0
  while (i < steps.length && steps[i]!.seq === (i === 0 ? steps[0]!.seq : steps[i - 1]!.seq + 1)) i++
  return i === 0 ? -1 : steps[i - 1]!.seq
}

/**
 * The run's data, or the error that stopped loading it. `focusSeq` (read when the run is
 * opened) is the step of a deep link: the page around it is read with the first one.
 */
export const useRun = (
  runId: string,
  focusSeq?: number
): { readonly data: RunData | undefined; readonly error: string } => {
  const [data, setData] = useState<RunData | undefined>(undefined)
  const [error, setError] = useState("")
  const steps = useRef<Array<Summary>>([])
  const index = useRef(new Map<string, number>())

  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let version = 0
    steps.current = []
    index.current = new Map()
    setData(undefined)
    setError("")
    const path = `/runs/${enc(runId)}`
    const timeline = (afterSeq: number | undefined, limit: number) =>
      get<ReadonlyArray<Summary>>(`${path}/timeline`, { afterSeq, limit })
    // the seq up to which every step is loaded, while a deep link's page sits further on
    let loadedTo = Number.POSITIVE_INFINITY
    const publish = (run: Run, agents: ReadonlyArray<Agent>, checkpoints: ReadonlyArray<Checkpoint>, complete: boolean) => {
      const hole = complete ? undefined : holeOf(steps.current, loadedTo)
      if (!stopped) setData({ run, agents, checkpoints, steps: steps.current, hole, complete, version: ++version })
    }
    const fail = (e: unknown) => {
      if (!stopped) setError(String((e as Error).message ?? e))
    }

    const poll = async (run: Run, agents: ReadonlyArray<Agent>, checkpoints: ReadonlyArray<Checkpoint>) => {
      try {
        const [r, a, c] = await Promise.all([
          get<Run>(path),
          get<ReadonlyArray<Agent>>(`${path}/agents`),
          get<ReadonlyArray<Checkpoint>>(`${path}/checkpoints`)
        ])
        const all = steps.current
        const from = Math.max(contiguous(all), (all.at(-1)?.seq ?? -1) - 2000)
        for (let after = from, more = true; more && !stopped;) {
          const page = await timeline(after < 0 ? undefined : after, nextPage)
          merge(all, index.current, page)
          more = page.length === nextPage
          after = page.at(-1)?.seq ?? after
        }
        ;[run, agents, checkpoints] = [r, a, c]
      } catch (e) {
        fail(e)
      }
      publish(run, agents, checkpoints, true)
      if (!stopped && run.status === "running") timer = setTimeout(() => poll(run, agents, checkpoints), 2000)
    }

    const load = async () => {
      // a deep link past the first page: the page around its step, read with the first one
      const around = focusSeq !== undefined && focusSeq >= firstPage ? focusSeq - firstPage / 2 - 1 : undefined
      const [run, agents, checkpoints, first, focused] = await Promise.all([
        get<Run>(path),
        get<ReadonlyArray<Agent>>(`${path}/agents`),
        get<ReadonlyArray<Checkpoint>>(`${path}/checkpoints`),
        timeline(undefined, firstPage),
        around === undefined ? Promise.resolve([]) : timeline(around, firstPage)
      ])
      if (stopped) return
      merge(steps.current, index.current, first)
      merge(steps.current, index.current, focused)
      let more = first.length === firstPage
      let after = first.at(-1)?.seq
      loadedTo = more ? after ?? -1 : Number.POSITIVE_INFINITY
      publish(run, agents, checkpoints, !more)
      // let the first screen paint before loading the rest
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50)))
      let published = performance.now()
      while (more && !stopped) {
        const page = await timeline(after, nextPage)
        merge(steps.current, index.current, page)
        more = page.length === nextPage
        after = page.at(-1)?.seq ?? after
        loadedTo = more ? after ?? -1 : Number.POSITIVE_INFINITY
        // redraw at most twice a second while pages arrive, and once at the end
        if (!more || performance.now() - published > 500) {
          publish(run, agents, checkpoints, !more)
          published = performance.now()
        }
      }
      if (!stopped && run.status === "running") timer = setTimeout(() => poll(run, agents, checkpoints), 2000)
    }
    load().catch(fail)
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [runId])

  return { data, error }
}
