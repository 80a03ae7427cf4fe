/**
 * Migration 7: run and agent records written before 0.3 learn what 0.3 totals say. Records are
 * JSON, so no column changes; the records that need it are rewritten in place:
 *
 * - a run or an agent with executed steps of unknown cost gets `unpricedSteps`, and its cost
 *   becomes `null` when every one of its steps is unpriced (0.2 recorded 0);
 * - a fork gets `inherited`: the totals its parent's checkpoint recorded, plus what the parent
 *   inherited. A fork whose checkpoint is gone (collected) is left without.
 *
 * What it writes is a frozen copy of the 0.3 rules, so later changes to the code do not change it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { dialectOf } from "./queries.js"
import { idOfHex } from "./stepRows.js"

type Json = Record<string, unknown>

/** The JSON object in `text`, or undefined when it is not one (a corrupt record stays as it is). */
const parsed = (text: unknown): Json | undefined => {
  try {
    const value: unknown = JSON.parse(String(text))
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : undefined
  } catch {
    return undefined
  }
}

const numberOf = (value: unknown): number => typeof value === "number" && Number.isFinite(value) ? value : 0

/** A record with `unpriced` steps of unknown cost: counted, and its cost null when none was known. */
const withUnpriced = (record: Json, unpriced: number): Json => ({
  ...record,
  unpricedSteps: unpriced,
  costUsd: unpriced >= numberOf(record.stepCount) && numberOf(record.costUsd) === 0 ? null : record.costUsd
})

const counts = ["stepCount", "inputTokens", "outputTokens", "cachedInputTokens", "reasoningTokens", "tokensUsed"] as const

/** The sum of two totals, cost in nano-dollars, null when nothing known was spent but some cost is unknown. */
const sumOf = (a: Json, b: Json | null): Json => {
  const sum: Json = {}
  for (const field of counts) sum[field] = numberOf(a[field]) + numberOf(b?.[field])
  const unpriced = numberOf(a.unpricedSteps) + numberOf(b?.unpricedSteps)
  const nanos = Math.round(numberOf(a.costUsd) * 1e9) + Math.round(numberOf(b?.costUsd) * 1e9)
  sum.costUsd = unpriced > 0 && nanos === 0 ? null : nanos / 1e9
  sum.unpricedSteps = unpriced
  sum.latencyMs = numberOf(a.latencyMs) + numberOf(b?.latencyMs)
  return sum
}

/** Run and agent records rewritten with `unpricedSteps`, a null cost, and a fork's `inherited`. */
export const unpricedAndInherited = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const hex = (column: string) => dialectOf(sql) === "pg" ? `encode(${column}, 'hex')` : `lower(hex(${column}))`
  const rows = yield* sql.unsafe(`SELECT project, ${hex("run_id")}, ${hex("agent_id")}, COUNT(*) FROM multirun_steps
    WHERE cost_usd IS NULL AND (flags & 1) = 0 AND agent_id IS NOT NULL GROUP BY project, run_id, agent_id`).values
  const byRun = new Map<string, { project: string; id: string; unpriced: number }>()
  const rewrite = (table: string, project: string, id: string, change: (record: Json) => Json) =>
    Effect.gen(function*() {
      const [row] = yield* sql`SELECT record FROM ${sql(table)} WHERE project = ${project} AND id = ${id}`.values
      const record = row === undefined ? undefined : parsed(row[0])
      if (record === undefined) return undefined
      const changed = change(record)
      yield* sql`UPDATE ${sql(table)} SET record = ${JSON.stringify(changed)} WHERE project = ${project} AND id = ${id}`
      return changed
    })
  for (const [project, runHex, agentHex, count] of rows) {
    const runId = String(idOfHex(runHex))
    const unpriced = Number(count)
    yield* rewrite("multirun_agents", String(project), String(idOfHex(agentHex)), (r) => withUnpriced(r, unpriced))
    const key = `${String(project)}\u0000${runId}`
    const run = byRun.get(key) ?? { project: String(project), id: runId, unpriced: 0 }
    run.unpriced += unpriced
    byRun.set(key, run)
  }
  for (const run of byRun.values()) {
    yield* rewrite("multirun_runs", run.project, run.id, (r) => withUnpriced(r, run.unpriced))
  }

  // forks, parents before children: what a fork inherits includes what its parent inherited
  const forks = yield* sql`SELECT project, id, record FROM multirun_runs WHERE record LIKE ${"%\"forkedFrom\":\"%"}
    ORDER BY project, started_at, id`.values
  const inherited = new Map<string, Json | null>()
  for (const [project, id, text] of forks) {
    const record = parsed(text)
    if (record === undefined || typeof record.forkedFrom !== "string") continue
    const [row] = yield* sql`SELECT payload FROM multirun_checkpoints
      WHERE project = ${String(project)} AND id = ${record.forkedFrom}`.values
    const checkpoint = row === undefined ? undefined : parsed(row[0])
    if (checkpoint === undefined) continue
    const parent = inherited.get(`${String(project)}\u0000${String(checkpoint.runId)}`) ?? null
    const own = sumOf(checkpoint, parent)
    inherited.set(`${String(project)}\u0000${String(id)}`, own)
    yield* rewrite("multirun_runs", String(project), String(id), (r) => ({ ...r, inherited: own }))
  }
})
