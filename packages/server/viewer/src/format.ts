/** Formatting for the page: the shared helpers plus local times (the browser may use Date). */
export {
  cost,
  count,
  duration,
  money,
  shortId,
  signedCount,
  signedDuration,
  signedMoney,
  tokenSplit,
  totalCost
} from "../../src/internal/format.js"

/** A local date and time. */
export const localTime = (ms: number): string => new Date(ms).toLocaleString()

/** The current time in ms. */
export const now = (): number => Date.now()

/** `+1.2 s` from the start of the run. */
export const offset = (ms: number): string => {
  if (ms < 1000) return `+${Math.round(ms)} ms`
  if (ms < 60_000) return `+${(ms / 1000).toFixed(1)} s`
  if (ms < 3_600_000) return `+${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`
  return `+${Math.floor(ms / 3_600_000)}h${String(Math.round((ms % 3_600_000) / 60_000)).padStart(2, "0")}m`
}
