/**
 * One migration at a time per PostgreSQL schema. Processes that open one database at the same
 * moment (replicas of the server starting together) would otherwise race: `CREATE SCHEMA` and
 * the `CREATE TABLE` of the migrations' bookkeeping fail with a unique violation in all but one.
 * A session advisory lock keyed by the schema serializes them; a process that dies holding it
 * frees it with its connection.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"

/** The lock's key: the schema given, or the connection's current schema. */
const key = "hashtext('multirun migrations ' || coalesce($1::text, current_schema()))"

/**
 * Runs `effect` while holding the migration lock of `schema` (by default the connection's
 * current schema) on PostgreSQL; elsewhere (SQLite, which serializes writers itself) as it is.
 * Calls must not nest: the lock is taken on a connection of its own.
 */
export const exclusively = (schema: string | undefined) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        Effect.scoped(Effect.flatMap(sql.reserve, (connection) =>
          Effect.acquireUseRelease(
            connection.executeRaw(`SELECT pg_advisory_lock(${key})`, [schema ?? null]),
            () => effect,
            // a failed unlock (a broken connection) frees the lock with the connection
            () => Effect.ignore(connection.executeRaw(`SELECT pg_advisory_unlock(${key})`, [schema ?? null]))
          ))),
      orElse: () => effect
    }))
