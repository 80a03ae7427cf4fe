/** The HTTP API as the page reads it: JSON over fetch with the stored key. */
import type { AgentLike, CheckpointLike, CheckpointState, RunLike, StepLike } from "../../src/internal/runModel.js"

/** A run record as served. */
export interface Run extends RunLike {
  readonly metadata: Record<string, unknown>
  readonly result: string | null
}
/** An agent record as served. */
export interface Agent extends AgentLike {
  readonly runId: string
  readonly agentConfigId: string | null
}
/** A step summary (`/timeline`): no input or output. */
export interface Summary extends StepLike {
  readonly runId: string
}
/** A whole step record. */
export interface Step extends Summary {
  readonly input: string
  readonly output: string | null
}
/** A checkpoint as served. */
export interface Checkpoint extends CheckpointLike, CheckpointState {
  readonly runId: string
  readonly stepCount: number
  readonly tokensUsed: number
  readonly costUsd: number | null
  readonly unpricedSteps?: number | undefined
  readonly agents: ReadonlyArray<{ readonly name: string; readonly agentId: string; readonly state: Record<string, unknown> }>
}
/** The diff of two checkpoints. */
export interface CheckpointDiff {
  readonly from: string
  readonly to: string
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  readonly changed: ReadonlyArray<string>
  readonly steps: ReadonlyArray<Step>
}
/** One run's side of a compared step (`RunDiff.StepSide`). */
export interface DiffSide {
  readonly id: string
  readonly seq: number
  readonly kind: string
  readonly status: string
  readonly model: string | null
  readonly latencyMs: number
  readonly tokensUsed: number
  readonly costUsd: number | null
}
/** A row of a compare (`RunDiff.Row`): deltas are B − A. */
export interface DiffRow {
  readonly agent: string
  readonly name: string
  readonly occurrence: number
  readonly a: DiffSide | null
  readonly b: DiffSide | null
  readonly changes: ReadonlyArray<"input" | "output" | "status" | "model">
  readonly inherited: boolean
  readonly inputPaths: ReadonlyArray<string>
  readonly outputPaths: ReadonlyArray<string>
  readonly latencyMs: number
  readonly tokensUsed: number
  readonly costUsd: number | null
}
/** One side's sums (`RunDiff.Sum`). */
export interface DiffSum {
  readonly steps: number
  readonly latencyMs: number
  readonly tokensUsed: number
  readonly costUsd: number | null
  readonly unpricedSteps: number
}
/** Sums of A and B and their deltas (`RunDiff.Delta`). */
export interface DiffDelta {
  readonly a: DiffSum
  readonly b: DiffSum
  readonly latencyMs: number
  readonly tokensUsed: number
  readonly costUsd: number | null
}
/** A run of a compare (`RunDiff.RunRef`). */
export interface DiffRun {
  readonly id: string
  readonly name: string
  readonly status: string
  readonly tags: ReadonlyArray<string>
  readonly parentRunId: string | null
}
/** Two runs compared (`GET /api/runs/:a/diff/:b`). */
export interface RunDiff {
  readonly a: DiffRun
  readonly b: DiffRun
  readonly rows: ReadonlyArray<DiffRow>
  readonly agents: ReadonlyArray<DiffDelta & { readonly agent: string }>
  readonly total: DiffDelta
  readonly differing: number
}
/** What some steps cost (`/usage/days`); `costUsd` null when no cost is known but some is unknown. */
export interface Spending {
  readonly steps: number
  readonly tokens: number
  readonly costUsd: number | null
  readonly unpricedSteps: number
}
/** `/usage/days`: each UTC day of the last 30, the total, the most expensive runs and models. */
export interface UsageDays {
  readonly project: string
  readonly from: string
  readonly to: string
  readonly days: ReadonlyArray<Spending & { readonly day: string; readonly runs: number }>
  readonly total: Spending & { readonly runs: number }
  readonly runs: ReadonlyArray<Spending & { readonly runId: string; readonly name: string }>
  readonly models: ReadonlyArray<Spending & { readonly model: string }>
}
/** `/assets/config.json`. */
export interface ViewerConfig {
  readonly mode: "server" | "local"
  readonly source: string | null
}

/** A non-2xx answer, with the server's message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

const storageKey = "multirun.apiKey"

/**
 * The stored API key ("" when none). It is kept in `sessionStorage`: it lives as long as the tab,
 * is not shared with other tabs and is not left on disk for the next user of the browser; unless
 * the user chose "remember on this browser", which keeps it in `localStorage` for every tab.
 */
export const apiKey = (): string => sessionStorage.getItem(storageKey) ?? localStorage.getItem(storageKey) ?? ""
/** Stores the API key for this tab, and with `remember` on this browser; with "" forgets it everywhere. */
export const setApiKey = (key: string, remember = false): void => {
  if (key === "") {
    sessionStorage.removeItem(storageKey)
    localStorage.removeItem(storageKey)
    return
  }
  sessionStorage.setItem(storageKey, key)
  if (remember) localStorage.setItem(storageKey, key)
  else localStorage.removeItem(storageKey)
}

let onUnauthorized: (message: string) => void = () => {}
/** Called on every 401 (the app shows the key form). */
export const setUnauthorizedHandler = (handler: (message: string) => void): void => {
  onUnauthorized = handler
}

/** GET `/api{path}` with the query params that are defined. */
export const get = async <A>(path: string, params: Record<string, string | number | undefined> = {}): Promise<A> => {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== "") query.set(name, String(value))
  const qs = query.toString()
  const response = await fetch(`/api${path}${qs === "" ? "" : `?${qs}`}`, { headers: authorization() })
  const body = await response.json().catch(() => ({}))
  if (!response.ok) refuse(response, body)
  return body as A
}

/** Throws the error of a non-2xx answer with the server's message; a 401 shows the key form. */
const refuse = (response: Response, body: unknown): never => {
  const message = String((body as { message?: unknown }).message ?? response.statusText)
  if (response.status === 401) onUnauthorized(message)
  throw new ApiError(response.status, message)
}

/** The key's header for a request ({} when there is no key). */
const authorization = (): Record<string, string> => {
  const key = apiKey()
  return key === "" ? {} : { authorization: `Bearer ${key}` }
}

/**
 * Downloads `/api{path}` as a file (the request carries the key, so a link cannot): its name is
 * the one the server's `Content-Disposition` gives, else `fallbackName`.
 */
export const download = async (path: string, fallbackName: string): Promise<void> => {
  const response = await fetch(`/api${path}`, { headers: authorization() })
  if (!response.ok) refuse(response, await response.json().catch(() => ({})))
  const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement("a")
  link.href = url
  link.download = named?.[1] ?? fallbackName
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** The viewer's mode (`local` for `multirun ui`). */
export const config = (): Promise<ViewerConfig> =>
  fetch("/assets/config.json").then((r) => r.json() as Promise<ViewerConfig>)

/** `/runs/:id` paths. */
export const enc = encodeURIComponent
