/**
 * Migration 7: run and agent records written before 0.3 learn what 0.3 totals say. Records are
 * JSON, so no column changes; the records that need it are rewritten in place:
 *
 * - a run or an agent with executed steps of unknown cost gets `unpricedSteps`, and its cost
 *   becomes `null` when every one of its steps is unpriced (0.2 recorded 0);
 * - a fork gets `inherited`: the totals its parent's checkpoint recorded, plus what the parent
 *   inherited. A fork whose checkpoint is gone (collected) is left without.
 *
 * Frozen: the 0.3 totals rules and the step ids of `stepRows.ts` as they were at schema version 7.
 * Never edit it (later changes to the code must not change what it writes); a new rule or row
 * layout is a new migration. It imports nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

type Json = Record<string, unknown>

/** The text of a stored id that is not a UUID (its UTF-8 bytes then 0xFF, one more 0xFF at 16), given as hex. */
const textOfHex = (hex: string): string | null => {
  const bytes = Buffer.from(hex, "hex")
  let end = bytes.length
  if (end === 0 || bytes[end - 1] !== 0xff) return null
  while (end > 0 && bytes[end - 1] === 0xff) end--
  return bytes.toString("utf8", 0, end)
}

/** The id of a stored step id read as lowercase hex: a UUID from 16 bytes, else its text. */
const idOfHex = (hex: unknown): unknown =>
  typeof hex !== "string"
    ? hex
    : hex.length === 32
    ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    : textOfHex(hex)

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
  const hex = (column: string) =>
    sql.onDialectOrElse({ pg: () => `encode(${column}, 'hex')`, orElse: () => `lower(hex(${column}))` })
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
