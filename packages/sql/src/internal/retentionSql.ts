/** The SQL that differs between SQLite and PostgreSQL in retention and usage queries, and SQLite's vacuum mode. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import { Effect } from "effect"

/** Fragments over `sql`'s dialect. Column names are the store's own, never user input. */
export const retentionFragments = (sql: SqlClient) => {
  const pg = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const bytesOf = (column: string) =>
    pg ? `COALESCE(octet_length(${column}), 0)` : `COALESCE(length(CAST(${column} AS BLOB)), 0)`
  return {
    /** The stored bytes of a text column (0 when NULL). */
    bytes: (column: string): Fragment => sql.literal(bytesOf(column)),
    /** A step row's bytes: its ids, input hash and texts (its numbers are not counted). */
    stepBytes: sql.literal(
      ["id", "run_id", "agent_id", "input_hash", "name", "input", "output", "error", "model"].map(bytesOf).join(" + ")
    ),
    /** The `forkedFrom` checkpoint id of the run rows of `alias`. */
    forkedFrom: (alias: string): Fragment =>
      sql.literal(pg ? `(${alias}.record::json ->> 'forkedFrom')` : `json_extract(${alias}.record, '$.forkedFrom')`),
    /** A bytes column (an id) as lowercase hex. */
    hex: (column: string): Fragment => sql.literal(pg ? `encode(${column}, 'hex')` : `lower(hex(${column}))`),
    /** The UTC day (days since 1970-01-01) of an epoch-milliseconds column of times after 1970. */
    dayOf: (column: string): Fragment =>
      sql.literal(pg ? `FLOOR(${column} / 86400000)` : `CAST(${column} / 86400000 AS INTEGER)`)
  }
}

/**
 * Puts a SQLite file in incremental auto-vacuum mode, so that `PRAGMA incremental_vacuum` can
 * give freed pages back to the file system. A new file only needs the pragma before its first
 * table; a file made by an earlier multirun (mode none) is rewritten once by `VACUUM` (outside
 * any transaction, so not in a `Migrator` migration). Nothing happens when the mode is already set.
 * A `VACUUM` that fails (another process holds the file, too little disk for the copy) is logged
 * and tried again at the next opening: the file works as before meanwhile, only without
 * shrinking after `gc`.
 */
export const enableIncrementalVacuum = (sql: SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const [mode] = yield* sql<{ auto_vacuum: unknown }>`PRAGMA auto_vacuum`
    if (Number(mode?.auto_vacuum) === 2) return
    const [tables] = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'`
    yield* sql`PRAGMA auto_vacuum = INCREMENTAL`
    if (Number(tables?.n) === 0) return
    yield* sql`VACUUM`.pipe(Effect.catchAll((error) =>
      Effect.logWarning(
        "multirun: could not switch the SQLite file to incremental auto-vacuum (VACUUM failed); " +
          "it is tried again at the next opening",
        error
      )
    ))
  })
