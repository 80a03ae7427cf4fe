/**
 * What a project spent per day: runs, steps, tokens and cost for each UTC day of the last 30
 * days (by the `Clock`), with the window's most expensive runs and models, for the viewer's
 * usage page and `multirun usage --by day`.
 *
 * A step counts on the UTC day it **started** (`startedAt`), and a run on each day one of its
 * steps started (so a run that spans midnight counts on both days, and once in the window's
 * total). Only executed steps count: a replayed one costs nothing. Costs are summed as integer
 * nano-dollars, as run totals are; a step of unknown cost is counted in `unpricedSteps`, and a
 * sum is `null` when some cost is unknown and none is known, never 0.
 *
 * @since 0.3.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, DateTime, Effect } from "effect"
import { idOfHex } from "./internal/stepRows.js"
import { retentionFragments } from "./internal/retentionSql.js"

/**
 * The milliseconds of a day.
 *
 * @since 0.3.0
 */
export const dayMillis = 86_400_000

/**
 * How many days a report covers, today included.
 *
 * @since 0.3.0
 */
export const windowDays = 30

/**
 * How many runs and models a report lists, most expensive first.
 *
 * @since 0.3.0
 */
export const topCount = 5

/**
 * What some executed steps cost: their number, tokens and known cost (`null` when none is
 * known but some is unknown), and how many of them have no known cost.
 *
 * @since 0.3.0
 */
export interface Spending {
  readonly steps: number
  readonly tokens: number
  readonly costUsd: number | null
  readonly unpricedSteps: number
}

/**
 * One UTC day (`2026-12-07`): the runs with a step started that day, and what those steps cost.
 *
 * @since 0.3.0
 */
export interface Day extends Spending {
  readonly day: string
  readonly runs: number
}

/**
 * A run's steps of the window.
 *
 * @since 0.3.0
 */
export interface RunSpending extends Spending {
  readonly runId: string
  readonly name: string
}

/**
 * A model's steps of the window (steps that recorded a model).
 *
 * @since 0.3.0
 */
export interface ModelSpending extends Spending {
  readonly model: string
}

/**
 * A project's report: every day of the window, oldest first (days with no step hold zeros),
 * the window's total, and its most expensive runs and models.
 *
 * @since 0.3.0
 */
export interface Report {
  readonly project: string
  readonly from: string
  readonly to: string
  readonly days: ReadonlyArray<Day>
  readonly total: Spending & { readonly runs: number }
  readonly runs: ReadonlyArray<RunSpending>
  readonly models: ReadonlyArray<ModelSpending>
}

/**
 * The UTC day of an epoch time, as `2026-12-07`.
 *
 * @since 0.3.0
 */
export const dayOf = (millis: number): string => DateTime.formatIsoDateUtc(DateTime.unsafeMake(millis))

/** Sums of executed steps as the query gives them: cost in integer nano-dollars. */
interface Sums {
  steps: number
  tokens: number
  nanos: number
  unpriced: number
}

const zero = (): Sums => ({ steps: 0, tokens: 0, nanos: 0, unpriced: 0 })

const add = (into: Sums, sums: Sums): void => {
  into.steps += sums.steps
  into.tokens += sums.tokens
  into.nanos += sums.nanos
  into.unpriced += sums.unpriced
}

/** Sums as a spending: nano-dollars back to dollars, null when only unknown costs. */
const spendingOf = (sums: Sums | undefined = zero()): Spending => ({
  steps: sums.steps,
  tokens: sums.tokens,
  costUsd: sums.unpriced > 0 && sums.nanos === 0 ? null : sums.nanos / 1e9,
  unpricedSteps: sums.unpriced
})

/** The entry of `key` in `map`, made by `make` the first time. */
const entry = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
  let found = map.get(key)
  if (found === undefined) map.set(key, found = make())
  return found
}

/** Most expensive first: known cost, then unknown costs, then tokens. */
const byCost = (a: Spending, b: Spending): number =>
  (b.costUsd ?? 0) - (a.costUsd ?? 0) || b.unpricedSteps - a.unpricedSteps || b.tokens - a.tokens

/**
 * The report of `project` for the 30 UTC days that end with the day of `until`, or today by
 * the `Clock`. One pass over the window's steps, grouped by day, run and model; the rest is added
 * up here (integers: exact).
 *
 * @since 0.3.0
 */
export const report = (
  project: string,
  until?: DateTime.Utc
): Effect.Effect<Report, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const today = Math.floor((until === undefined ? yield* Clock.currentTimeMillis : DateTime.toEpochMillis(until)) / dayMillis)
    const first = today - windowDays + 1
    const f = retentionFragments(sql)
    const rows = yield* sql<{ day: unknown; run: unknown; model: unknown } & Record<keyof Sums, unknown>>`
      SELECT ${f.dayOf("started_at")} AS day, ${f.hex("run_id")} AS run, model, COUNT(*) AS steps,
        COALESCE(SUM(tokens_used), 0) AS tokens,
        SUM(CASE WHEN cost_usd IS NULL THEN 0 ELSE CAST(ROUND(cost_usd * 1000000000) AS BIGINT) END) AS nanos,
        SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced
      FROM multirun_steps WHERE project = ${project} AND (flags & 1) = 0
        AND started_at >= ${first * dayMillis} AND started_at < ${(today + 1) * dayMillis}
      GROUP BY 1, run_id, model`
    const days = new Map<number, { sums: Sums; runs: Set<string> }>()
    const total = { sums: zero(), runs: new Set<string>() }
    const byRun = new Map<string, Sums>()
    const byModel = new Map<string, Sums>()
    for (const row of rows) {
      const sums = { steps: Number(row.steps), tokens: Number(row.tokens), nanos: Number(row.nanos), unpriced: Number(row.unpriced) }
      const run = String(row.run)
      const day = entry(days, Number(row.day), () => ({ sums: zero(), runs: new Set<string>() }))
      for (const into of [day, total]) {
        add(into.sums, sums)
        into.runs.add(run)
      }
      add(entry(byRun, run, zero), sums)
      if (row.model !== null) add(entry(byModel, String(row.model), zero), sums)
    }
    const topRuns = [...byRun].map(([run, sums]) => ({ runId: String(idOfHex(run)), ...spendingOf(sums) })).sort(byCost)
      .slice(0, topCount)
    const names = topRuns.length === 0 ? [] : yield* sql<{ id: string; name: string }>`
      SELECT id, name FROM multirun_runs WHERE project = ${project} AND ${sql.in("id", topRuns.map((r) => r.runId))}`
    const nameOf = new Map(names.map((row) => [row.id, row.name]))
    return {
      project,
      from: dayOf(first * dayMillis),
      to: dayOf(today * dayMillis),
      days: Array.from({ length: windowDays }, (_, i): Day => {
        const day = days.get(first + i)
        return { day: dayOf((first + i) * dayMillis), runs: day?.runs.size ?? 0, ...spendingOf(day?.sums) }
      }),
      total: { runs: total.runs.size, ...spendingOf(total.sums) },
      runs: topRuns.map(({ runId, ...spending }) => ({ runId, name: nameOf.get(runId) ?? "?", ...spending })),
      models: [...byModel].map(([model, sums]) => ({ model, ...spendingOf(sums) })).sort(byCost).slice(0, topCount)
    }
  })

/**
 * The reports of every project of the database (or of `project` alone), ordered by project, for
 * the 30 days that end with `until` (today when absent).
 *
 * @since 0.3.0
 */
export const reports = (
  project?: string,
  until?: DateTime.Utc
): Effect.Effect<ReadonlyArray<Report>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const projects = project !== undefined
      ? [project]
      : (yield* sql<{ project: string }>`SELECT DISTINCT project FROM multirun_runs ORDER BY project`).map((r) => r.project)
    return yield* Effect.forEach(projects, (project) => report(project, until))
  })
