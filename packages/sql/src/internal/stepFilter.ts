/**
 * The conditions of a filtered page of a run's steps (see `Api.StepFilter`), as parameterised
 * fragments: the agent by name (its ids read from the run's agents), kind and status by their
 * stored codes, `replayed` by the flag or the seq ranges the run's resumes returned (read from
 * the run), `drifted` by the drift mark, and name and text by LIKE in any case, wildcards escaped.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import type { Api } from "@multirun/core"
import { Effect } from "effect"
import { containsPattern } from "./queries.js"
import { idBytes, kindCode, replayedFlag, statusCode } from "./stepRows.js"

/** A field of a stored JSON record; undefined when the text is not a JSON object. */
const fieldOf = (record: unknown, name: string): unknown => {
  try {
    const value: unknown = JSON.parse(String(record))
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined
  } catch {
    return undefined
  }
}

/** The `[from, to)` seq ranges a run's resumes replayed, from its `replays` (see `Run.Replay`). */
const replayedRanges = (replays: unknown): Array<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  if (!Array.isArray(replays)) return ranges
  for (const replay of replays) {
    const steps: unknown = typeof replay === "object" && replay !== null ? (replay as { steps?: unknown }).steps : undefined
    if (!Array.isArray(steps)) continue
    for (const range of steps) {
      if (Array.isArray(range) && typeof range[0] === "number" && typeof range[1] === "number") ranges.push([range[0], range[1]])
    }
  }
  return ranges
}

/** Whether the text holds `pattern` (made by `containsPattern`), in any case. */
const contains = (sql: SqlClient, column: string, pattern: string): Fragment =>
  sql`LOWER(${sql.literal(column)}) LIKE ${pattern} ESCAPE '\\'`

/**
 * The conditions on `multirun_steps` rows of the run that `filter` asks for, or undefined when
 * no step of the run can match (no agent of that name).
 */
export const stepConditions = (
  sql: SqlClient,
  project: string,
  runId: string,
  filter: Api.StepFilter
): Effect.Effect<Array<Fragment> | undefined, SqlError> =>
  Effect.gen(function*() {
    const where: Array<Fragment> = []
    if (filter.agent !== undefined) {
      const agents = yield* sql`SELECT id, record FROM multirun_agents WHERE project = ${project} AND run_id = ${runId}`.values
      const ids = agents.filter(([, record]) => fieldOf(record, "name") === filter.agent).map(([id]) => idBytes(String(id)))
      if (ids.length === 0) return undefined
      where.push(sql.in("agent_id", ids))
    }
    if (filter.kind !== undefined) where.push(sql`kind = ${kindCode(filter.kind) ?? -1}`)
    if (filter.status === "drifted") where.push(sql`drift IS NOT NULL`)
    else if (filter.status === "replayed") {
      const runs = yield* sql`SELECT record FROM multirun_runs WHERE project = ${project} AND id = ${runId}`.values
      const ranges = replayedRanges(runs.length === 0 ? undefined : fieldOf(runs[0]![0], "replays"))
      where.push(sql.or([
        sql`(flags & ${replayedFlag}) <> 0`,
        ...ranges.map(([from, to]) => sql`(seq >= ${from} AND seq < ${to})`)
      ]))
    } else if (filter.status !== undefined) where.push(sql`status = ${statusCode(filter.status) ?? -1}`)
    if (filter.name !== undefined) where.push(contains(sql, "name", containsPattern(filter.name)))
    if (filter.text !== undefined) {
      const pattern = containsPattern(filter.text)
      where.push(sql.or(["input", "output", "error"].map((column) => contains(sql, column, pattern))))
    }
    return where
  })
