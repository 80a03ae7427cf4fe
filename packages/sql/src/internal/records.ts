/** How records become rows: coalescing a batch of writes and writing it with multi-row upserts. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Agent from "@multirun/core/Agent"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import { Effect } from "effect"
import { chunks } from "./sql.js"

/** One buffered write; core's `Event.Event` has this shape too (plus its event id). */
export type Write =
  | { readonly _tag: "RunWritten"; readonly run: Run.Encoded }
  | { readonly _tag: "AgentWritten"; readonly agent: Agent.Encoded }
  | { readonly _tag: "StepWritten"; readonly step: Step.Encoded }

/** The records of a batch, one per id. */
export interface Records {
  readonly runs: Map<string, Run.Encoded>
  readonly agents: Map<string, Agent.Encoded>
  readonly steps: Map<string, Step.Encoded>
}

/** Keeps the last record written for each id, so one statement never touches a row twice. */
export const coalesce = (writes: Iterable<Write>): Records => {
  const records: Records = { runs: new Map(), agents: new Map(), steps: new Map() }
  for (const write of writes) {
    switch (write._tag) {
      case "RunWritten":
        records.runs.set(write.run.id, write.run)
        break
      case "AgentWritten":
        records.agents.set(write.agent.id, write.agent)
        break
      case "StepWritten":
        records.steps.set(write.step.id, write.step)
        break
    }
  }
  return records
}

/** Number of records in a batch after coalescing. */
export const size = (records: Records): number => records.runs.size + records.agents.size + records.steps.size

/** Sort and filter columns hold whole milliseconds; the record keeps the exact value. */
const millis = (value: number | null): number | null => value === null ? null : Math.floor(value)

/**
 * Writes coalesced records of one project: runs and agents are upserts, a step written again
 * replaces the earlier record. Run it inside the caller's transaction.
 */
export const writeRecords = (
  sql: SqlClient,
  project: string,
  records: Records
): Effect.Effect<void, SqlError> => {
  const statements: Array<Effect.Effect<unknown, SqlError>> = []
  if (records.runs.size > 0) {
    const rows = Array.from(records.runs.values(), (run) => ({
      project,
      id: run.id,
      name: run.name,
      status: run.status,
      parent_run_id: run.parentRunId,
      started_at: millis(run.startedAt),
      ended_at: millis(run.endedAt),
      tags: JSON.stringify(run.tags),
      record: JSON.stringify(run)
    }))
    for (const chunk of chunks(rows, 9)) {
      statements.push(sql`INSERT INTO multirun_runs ${sql.insert(chunk)}
        ON CONFLICT (project, id) DO UPDATE SET name = excluded.name, status = excluded.status,
          parent_run_id = excluded.parent_run_id, started_at = excluded.started_at,
          ended_at = excluded.ended_at, tags = excluded.tags, record = excluded.record`)
    }
  }
  if (records.agents.size > 0) {
    const rows = Array.from(records.agents.values(), (agent) => ({
      project,
      id: agent.id,
      run_id: agent.runId,
      started_at: millis(agent.startedAt),
      record: JSON.stringify(agent)
    }))
    for (const chunk of chunks(rows, 5)) {
      statements.push(sql`INSERT INTO multirun_agents ${sql.insert(chunk)}
        ON CONFLICT (project, id) DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at,
          record = excluded.record`)
    }
  }
  if (records.steps.size > 0) {
    const rows = Array.from(records.steps.values(), (step) => ({
      project,
      id: step.id,
      run_id: step.runId,
      seq: step.seq,
      record: JSON.stringify(step)
    }))
    for (const chunk of chunks(rows, 5)) {
      statements.push(sql`INSERT INTO multirun_steps ${sql.insert(chunk)}
        ON CONFLICT (project, id) DO UPDATE SET run_id = excluded.run_id, seq = excluded.seq,
          record = excluded.record`)
    }
  }
  return Effect.all(statements, { discard: true })
}
