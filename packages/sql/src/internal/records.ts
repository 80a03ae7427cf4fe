/** How records become rows and back: coalescing a batch of events, multi-row upserts, step rows. */
import { type SqlClient, TransactionConnection } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Agent from "@multirun/core/Agent"
import type * as Event from "@multirun/core/Event"
import * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/Step"
import { Effect, Option } from "effect"
import { bindStep, stepWriteColumns } from "./stepRows.js"

/** The records of a batch, one per id. */
export interface Records {
  readonly runs: Map<string, Run.Encoded>
  readonly agents: Map<string, Agent.Encoded>
  readonly steps: Map<string, Step.Encoded>
}

/** Keeps the last record written for each id, so one statement never touches a row twice. */
export const coalesce = (events: Iterable<Event.Write>): Records => {
  const records: Records = { runs: new Map(), agents: new Map(), steps: new Map() }
  for (const event of events) {
    switch (event._tag) {
      case "RunWritten":
        records.runs.set(event.run.id, event.run)
        break
      case "AgentWritten":
        records.agents.set(event.agent.id, event.agent)
        break
      case "StepWritten":
        records.steps.set(event.step.id, event.step)
        break
    }
  }
  return records
}

/** Sort and filter columns hold whole milliseconds; the record keeps the exact value. */
const millis = (value: number | null): number | null => value === null ? null : Math.floor(value)

/** How the records of one kind become rows of their table. */
export interface Table<A> {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  /** The upsert clause: a record written again replaces the row. */
  readonly onConflict: string
  /** Appends the row of one record to a statement's parameters, in `columns` order. */
  readonly bind: (params: Array<unknown>, project: string, record: A) => void
}

const runs: Table<Run.Encoded> = {
  name: "multirun_runs",
  columns: ["project", "id", "name", "status", "parent_run_id", "started_at", "ended_at", "tags", "record"],
  onConflict: `ON CONFLICT (project, id) DO UPDATE SET name = excluded.name, status = excluded.status,
    parent_run_id = excluded.parent_run_id, started_at = excluded.started_at,
    ended_at = excluded.ended_at, tags = excluded.tags, record = excluded.record`,
  bind: (params, project, written) => {
    const run = Run.stored(written)
    params.push(
      project,
      run.id,
      run.name,
      run.status,
      run.parentRunId,
      millis(run.startedAt),
      millis(run.endedAt),
      JSON.stringify(run.tags),
      JSON.stringify(run)
    )
  }
}

const agents: Table<Agent.Encoded> = {
  name: "multirun_agents",
  columns: ["project", "id", "run_id", "started_at", "record"],
  onConflict: `ON CONFLICT (project, id) DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at,
    record = excluded.record`,
  bind: (params, project, agent) => {
    params.push(project, agent.id, agent.runId, millis(agent.startedAt), JSON.stringify(agent))
  }
}

/** The step table: its row layout is in `stepRows.ts`, its columns made by the migrations. */
const steps: Table<Step.Encoded> = {
  name: "multirun_steps",
  columns: stepWriteColumns,
  onConflict: `ON CONFLICT (project, id) DO UPDATE SET ${
    stepWriteColumns.slice(2).map((column) => `${column} = excluded.${column}`).join(", ")
  }`,
  bind: bindStep
}

/**
 * Rows per statement. A batch is cut into chunks of these sizes only (largest first), so the
 * same few statement texts recur and the driver reuses their prepared statements instead of
 * preparing a new multi-row INSERT for every batch size. 256 rows of the widest table bind 5,888
 * variables, far below SQLite's limit of 32,766.
 */
const chunkSizes = [256, 128, 64, 32, 16, 8, 4, 2, 1]

/** The text of each (table, rows) INSERT, compiled once per client in its own dialect. */
const statementTexts = new WeakMap<SqlClient, Map<string, string>>()

const statementText = (sql: SqlClient, table: Table<any>, rows: number): string => {
  let texts = statementTexts.get(sql)
  if (texts === undefined) statementTexts.set(sql, texts = new Map())
  const key = `${table.name}:${rows}`
  let text = texts.get(key)
  if (text === undefined) {
    const row = Object.fromEntries(table.columns.map((column) => [column, null]))
    const placeholders = Array.from({ length: rows }, () => row)
    text = sql`INSERT INTO ${sql(table.name)} ${sql.insert(placeholders)} ${sql.literal(table.onConflict)}`.compile()[0]
    texts.set(key, text)
  }
  return text
}

/**
 * Runs a compiled statement on the connection of the transaction in context, or through `sql`
 * outside one. On the connection there is no `Statement` (its span, scope and the copy of the
 * parameters it keeps once compiled) per chunk.
 */
const execute = (sql: SqlClient, text: string, params: Array<unknown>): Effect.Effect<unknown, SqlError> =>
  Effect.flatMap(
    Effect.serviceOption(TransactionConnection),
    (transaction) =>
      Option.isSome(transaction)
        ? transaction.value[0].execute(text, params as Array<any>, undefined)
        : sql.unsafe(text, params as Array<any>)
  )

/**
 * One multi-row upsert statement per chunk of `records`. A statement empties its parameters
 * once it has run: objects of @effect/sql's transaction that the GC has moved to the old
 * generation can outlive their batch there until a full collection, and would keep every value
 * of its rows alive meanwhile.
 */
export const upserts = <A>(
  sql: SqlClient,
  table: Table<A>,
  project: string,
  records: ReadonlyArray<A>,
  statements: Array<Effect.Effect<unknown, SqlError>>
): void => {
  let from = 0
  for (const size of chunkSizes) {
    for (; records.length - from >= size; from += size) {
      const params: Array<unknown> = []
      for (let i = from; i < from + size; i++) table.bind(params, project, records[i]!)
      statements.push(Effect.ensuring(
        execute(sql, statementText(sql, table, size), params),
        Effect.sync(() => {
          params.length = 0
        })
      ))
    }
  }
}

/**
 * Writes coalesced records of one project: runs and agents are upserts, a step written again
 * replaces the earlier record. Run it inside the caller's transaction. `records` is emptied
 * once written (see {@link upserts}).
 */
export const writeRecords = (
  sql: SqlClient,
  project: string,
  records: Records
): Effect.Effect<void, SqlError> => {
  const statements: Array<Effect.Effect<unknown, SqlError>> = []
  upserts(sql, runs, project, Array.from(records.runs.values()), statements)
  upserts(sql, agents, project, Array.from(records.agents.values()), statements)
  upserts(sql, steps, project, Array.from(records.steps.values()), statements)
  return Effect.ensuring(
    Effect.all(statements, { discard: true }),
    Effect.sync(() => {
      records.runs.clear()
      records.agents.clear()
      records.steps.clear()
    })
  )
}
