/**
 * Plain formatting of amounts, durations and times, shared by the command line and the
 * browser viewer (no dependencies, no clock: callers pass the times).
 */

/** `$0.0037`, `$1.25`, `$0`; `unknown` when the cost is not known (a model missing from the price table). */
export const money = (usd: number | null): string =>
  usd === null ? "unknown" : usd === 0 ? "$0" : `$${usd.toFixed(usd >= 1 ? 2 : usd >= 0.001 ? 4 : 6)}`

/** `$0.0037`, or `cost unknown` when the cost is not known. */
export const cost = (usd: number | null): string => usd === null ? "cost unknown" : money(usd)

/**
 * A total of costs as recorded: `$0.0037`; `≥ $0.0037 (3 unpriced)` when `unpricedSteps` of its
 * steps have no known cost; `unknown` when none has one (the total is `null`) or the known ones
 * cost nothing (never `$0`).
 */
export const totalCost = (costUsd: number | null, unpricedSteps = 0): string =>
  costUsd === null || (costUsd === 0 && unpricedSteps > 0)
    ? "unknown"
    : unpricedSteps > 0
    ? `≥ ${money(costUsd)} (${count(unpricedSteps)} unpriced)`
    : money(costUsd)

/** The token counts as providers report them; `cached` is part of `in`, as providers count it. */
export interface TokenSplit {
  readonly inputTokens?: number | null | undefined
  readonly outputTokens?: number | null | undefined
  readonly cachedInputTokens?: number | null | undefined
  readonly reasoningTokens?: number | null | undefined
}

/**
 * `1,200 in · 340 out · 800 cached · 120 reasoning` (the parts that are not zero); `""` when the
 * record has no split (only a total was reported, or a record written before 0.2).
 */
export const tokenSplit = (usage: TokenSplit, separator = " · "): string =>
  [
    [usage.inputTokens, "in"],
    [usage.outputTokens, "out"],
    [usage.cachedInputTokens, "cached"],
    [usage.reasoningTokens, "reasoning"]
  ].filter(([n]) => typeof n === "number" && n > 0).map(([n, label]) => `${count(n as number)} ${label}`).join(separator)

/** Rows under a header, in columns padded to their widest cell, two spaces apart. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  return [header, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
}

/** `512 B`, `1.5 kB`, `21.1 MB`, `3.2 GB` (powers of 1,000) */
export const bytes = (n: number): string => {
  const units = ["B", "kB", "MB", "GB", "TB"]
  let unit = 0
  for (; n >= 1000 && unit < units.length - 1; unit++) n /= 1000
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${units[unit]}`
}

/** `1,843` */
export const count = (n: number): string => Math.round(n).toLocaleString("en-US")

/** A difference of counts: `+1,200`, `-3`, `0`. */
export const signedCount = (n: number): string => n > 0 ? `+${count(n)}` : n < 0 ? `-${count(-n)}` : "0"

/** A difference of durations: `+63 ms`, `-1.20 s`, `0 ms`. */
export const signedDuration = (ms: number): string =>
  ms === 0 ? "0 ms" : `${ms > 0 ? "+" : "-"}${duration(Math.abs(ms))}`

/** A difference of costs: `+$0.0037`, `-$0.50`, `$0`; `unknown` when a cost it depends on is not known. */
export const signedMoney = (usd: number | null): string =>
  usd === null ? "unknown" : usd === 0 ? "$0" : `${usd > 0 ? "+" : "-"}${money(Math.abs(usd))}`

/** `63 ms`, `3.31 s`, `2 min 5 s`, `1 h 2 min` */
export const duration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return "–"
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** Milliseconds since the epoch as `2026-01-02 03:04:05Z` (UTC), computed without `Date`. */
export const timestamp = (ms: number): string => {
  const days = Math.floor(ms / 86_400_000)
  const inDay = ms - days * 86_400_000
  // civil date from days since 1970-01-01 (proleptic Gregorian calendar)
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  const h = Math.floor(inDay / 3_600_000)
  const m = Math.floor((inDay % 3_600_000) / 60_000)
  const s = Math.floor((inDay % 60_000) / 1000)
  return `${year}-${pad(month)}-${pad(day)} ${pad(h)}:${pad(m)}:${pad(s)}Z`
}

/**
 * Eight hex digits that tell ids apart, for display (`3f9a1c2e`): a 32-bit FNV-1a hash of the
 * whole id. Not a prefix: the front of a time-ordered id is the time, shared by a run and its
 * fork; nor the tail, which a process draws once for every id it makes.
 */
export const shortId = (id: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(16).padStart(8, "0")
}
