/**
 * The conditions of a filtered page of a run's steps (see `Api.StepFilter`), as parameterised
 * fragments: the agent by name (its ids from the run's agents, read and validated as the store
 * reads them), kind and status by their stored codes, `replayed` by the flag or the seq ranges
 * the run's resumes returned (its `replays`), `drifted` by the drift mark, and name and text by
 * LIKE in any case, wildcards escaped.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import type { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import { Effect, Option } from "effect"
import { containsPattern, make } from "./queries.js"
import { idBytes, kindCode, replayedFlag, statusCode } from "./stepRows.js"

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
): Effect.Effect<Array<Fragment> | undefined, BackendError> =>
  Effect.gen(function*() {
    const where: Array<Fragment> = []
    const store = make(sql, project)
    if (filter.agent !== undefined) {
      const agents = yield* store.listAgents(runId)
      const ids = agents.filter((agent) => agent.name === filter.agent).map((agent) => idBytes(agent.id))
      if (ids.length === 0) return undefined
      where.push(sql.in("agent_id", ids))
    }
    if (filter.kind !== undefined) where.push(sql`kind = ${kindCode(filter.kind) ?? -1}`)
    if (filter.status === "drifted") where.push(sql`drift IS NOT NULL`)
    else if (filter.status === "replayed") {
      const run = yield* store.getRun(runId)
      const ranges = Option.match(run, { onNone: () => [], onSome: (run) => (run.replays ?? []).flatMap((replay) => replay.steps) })
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
