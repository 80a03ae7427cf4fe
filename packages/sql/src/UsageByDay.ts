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
import type { Fragment } from "@effect/sql/Statement"
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

interface SpendingRow {
  readonly steps: unknown
  readonly tokens: unknown
  readonly nanos: unknown
  readonly unpriced: unknown
}

/** A sum of the query as a spending: nano-dollars back to dollars, null when only unknown costs. */
const spendingOf = (row: SpendingRow | undefined): Spending => {
  const unpricedSteps = Number(row?.unpriced ?? 0)
  const nanos = Number(row?.nanos ?? 0)
  return {
    steps: Number(row?.steps ?? 0),
    tokens: Number(row?.tokens ?? 0),
    costUsd: unpricedSteps > 0 && nanos === 0 ? null : nanos / 1e9,
    unpricedSteps
  }
}

/** Most expensive first: known cost, then unknown costs, then tokens. */
const byCost = (a: Spending, b: Spending): number =>
  (b.costUsd ?? 0) - (a.costUsd ?? 0) || b.unpricedSteps - a.unpricedSteps || b.tokens - a.tokens

/**
 * The report of `project` for the 30 UTC days that end today by the `Clock`.
 *
 * @since 0.3.0
 */
export const report = (project: string): Effect.Effect<Report, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const today = Math.floor((yield* Clock.currentTimeMillis) / dayMillis)
    const first = today - windowDays + 1
    const f = retentionFragments(sql)
    // the executed steps of the window; the sums of a group of them
    const window = sql`FROM multirun_steps WHERE project = ${project} AND (flags & 1) = 0
      AND started_at >= ${first * dayMillis} AND started_at < ${(today + 1) * dayMillis}`
    const sums: Fragment = sql.literal(`COUNT(*) AS steps, COALESCE(SUM(tokens_used), 0) AS tokens,
      COALESCE(SUM(CASE WHEN cost_usd IS NULL THEN 0 ELSE CAST(ROUND(cost_usd * 1000000000) AS BIGINT) END), 0) AS nanos,
      COALESCE(SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0) AS unpriced`)
    const dayRows = yield* sql<SpendingRow & { day: unknown; runs: unknown }>`
      SELECT ${f.dayOf("started_at")} AS day, COUNT(DISTINCT run_id) AS runs, ${sums} ${window} GROUP BY 1`
    const [total] = yield* sql<SpendingRow & { runs: unknown }>`SELECT COUNT(DISTINCT run_id) AS runs, ${sums} ${window}`
    const runRows = yield* sql<SpendingRow & { run: unknown }>`
      SELECT ${f.hex("run_id")} AS run, ${sums} ${window} GROUP BY run_id`
    const modelRows = yield* sql<SpendingRow & { model: unknown }>`
      SELECT model, ${sums} ${window} AND model IS NOT NULL GROUP BY model`

    const byDay = new Map(dayRows.map((row) => [Number(row.day), row]))
    const days = Array.from({ length: windowDays }, (_, i): Day => {
      const row = byDay.get(first + i)
      return { day: dayOf((first + i) * dayMillis), runs: Number(row?.runs ?? 0), ...spendingOf(row) }
    })
    const topRuns = runRows.map((row) => ({ runId: String(idOfHex(row.run)), ...spendingOf(row) })).sort(byCost)
      .slice(0, topCount)
    const names = topRuns.length === 0 ? [] : yield* sql<{ id: string; name: string }>`
      SELECT id, name FROM multirun_runs WHERE project = ${project} AND ${sql.in("id", topRuns.map((r) => r.runId))}`
    const nameOf = new Map(names.map((row) => [row.id, row.name]))
    return {
      project,
      from: dayOf(first * dayMillis),
      to: dayOf(today * dayMillis),
      days,
      total: { runs: Number(total?.runs ?? 0), ...spendingOf(total) },
      runs: topRuns.map(({ runId, ...spending }) => ({ runId, name: nameOf.get(runId) ?? "?", ...spending })),
      models: modelRows.map((row) => ({ model: String(row.model), ...spendingOf(row) })).sort(byCost).slice(0, topCount)
    }
  })

/**
 * The reports of every project of the database (or of `project` alone), ordered by project.
 *
 * @since 0.3.0
 */
export const reports = (project?: string): Effect.Effect<ReadonlyArray<Report>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const projects = project !== undefined
      ? [project]
      : (yield* sql<{ project: string }>`SELECT DISTINCT project FROM multirun_runs ORDER BY project`).map((r) => r.project)
    return yield* Effect.forEach(projects, report)
  })
