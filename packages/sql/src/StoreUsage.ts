/**
 * What each project stores: runs by status, agents, steps, checkpoints and their bytes, for
 * `multirun usage` and the server's usage endpoint.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { retentionFragments } from "./internal/retentionSql.js"

/**
 * One project's stored records. `bytes` counts the stored record texts (runs, agents, steps with
 * their inputs and outputs, checkpoints), not the database's indexes and free pages.
 *
 * @since 0.2.0
 */
export interface ProjectUsage {
  readonly project: string
  readonly runs: Readonly<Record<"running" | "completed" | "failed" | "interrupted", number>>
  readonly agents: number
  readonly steps: number
  readonly checkpoints: number
  readonly bytes: number
}

/**
 * The usage of a project that stores nothing.
 *
 * @since 0.2.0
 */
export const empty = (project: string) => ({
  project,
  runs: { running: 0, completed: 0, failed: 0, interrupted: 0 },
  agents: 0,
  steps: 0,
  checkpoints: 0,
  bytes: 0
})

/**
 * The usage of every project (or of `project` alone), ordered by project.
 *
 * @since 0.2.0
 */
export const usage = (project?: string): Effect.Effect<ReadonlyArray<ProjectUsage>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const f = retentionFragments(sql)
    const where = project === undefined ? sql`` : sql`WHERE project = ${project}`
    const byProject = new Map<string, ReturnType<typeof empty>>()
    const entry = (name: string) => {
      let found = byProject.get(name)
      if (found === undefined) byProject.set(name, found = empty(name))
      return found
    }
    const runs = yield* sql<{ project: string; status: keyof ProjectUsage["runs"]; n: unknown; bytes: unknown }>`
      SELECT project, status, COUNT(*) AS n, COALESCE(SUM(${f.bytes("record")}), 0) AS bytes
      FROM multirun_runs ${where} GROUP BY project, status`
    for (const row of runs) {
      const e = entry(row.project)
      e.runs[row.status] = Number(row.n)
      e.bytes += Number(row.bytes)
    }
    const tables = [
      ["agents", "multirun_agents", f.bytes("record")],
      ["steps", "multirun_steps", f.stepBytes],
      ["checkpoints", "multirun_checkpoints", f.bytes("payload")]
    ] as const
    for (const [key, table, bytes] of tables) {
      const rows = yield* sql<{ project: string; n: unknown; bytes: unknown }>`
        SELECT project, COUNT(*) AS n, COALESCE(SUM(${bytes}), 0) AS bytes FROM ${sql(table)} ${where} GROUP BY project`
      for (const row of rows) {
        const e = entry(row.project)
        e[key] = Number(row.n)
        e.bytes += Number(row.bytes)
      }
    }
    return [...byProject.values()].sort((a, b) => a.project < b.project ? -1 : a.project > b.project ? 1 : 0)
  })
