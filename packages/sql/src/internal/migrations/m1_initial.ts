/**
 * Migration 1 (0.1): runs, agents, steps, checkpoints and `multirun_meta`. Records are kept as JSON.
 *
 * Frozen: the schema change of version 1 as it was made. Never edit it: a new change is a new
 * migration. It imports nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** Creates the version 1 tables. */
export const initial = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Records are kept as JSON text in `record`; the other columns exist to filter and sort.
  yield* sql`CREATE TABLE multirun_runs (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    parent_run_id TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    tags TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_runs_started ON multirun_runs (project, started_at)`
  yield* sql`CREATE INDEX multirun_runs_status ON multirun_runs (project, status, started_at)`
  yield* sql`CREATE INDEX multirun_runs_name ON multirun_runs (project, name, started_at)`
  yield* sql`CREATE INDEX multirun_runs_parent ON multirun_runs (project, parent_run_id)`
  yield* sql`CREATE TABLE multirun_agents (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_agents_run ON multirun_agents (project, run_id, started_at)`
  yield* sql`CREATE TABLE multirun_steps (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (project, id)
  )`
  yield* sql`CREATE INDEX multirun_steps_run ON multirun_steps (project, run_id, seq)`
  yield* sql`CREATE TABLE multirun_checkpoints (
    project TEXT NOT NULL,
    id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (project, id),
    UNIQUE (project, run_id, version)
  )`
  yield* sql`CREATE TABLE multirun_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  )`
})
