/**
 * Migration 3: one lease per run, its owner, fencing epoch and expiry (see core's `Lease`).
 *
 * Frozen: the schema change of version 3 as it was made. Never edit it: a new change is a new
 * migration. It imports nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** Creates `multirun_leases`. */
export const leases = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE multirun_leases (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ttl_ms BIGINT NOT NULL,
    PRIMARY KEY (project, run_id)
  )`
})
