/** SQL helpers shared by the modules of the store. */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import type { BackendErrorReason } from "@multirun/core/Errors"

/** The database's clock, in milliseconds since the epoch. */
export const databaseNow = (sql: SqlClient): Fragment =>
  sql.literal(sql.onDialectOrElse({
    pg: () => "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::bigint",
    orElse: () => "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"
  }))

/**
 * The join condition of a run row `r` to its lease row `l` when that lease makes the run stalled
 * (see `Run.Stalled`): the run is `running` and its lease expired by the database's clock.
 */
export const stalledLease = (sql: SqlClient): Fragment =>
  sql`l.project = r.project AND l.run_id = r.id AND r.status = 'running' AND l.expires_at <= ${databaseNow(sql)}`

/** The message of an error and of every cause under it: a `SqlError` hides the driver's message. */
export const describeCause = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = (cause as { readonly cause?: unknown }).cause
  return inner === undefined ? cause.message : `${cause.message}: ${describeCause(inner)}`
}

/** The driver codes (SQLite, PostgreSQL, Node) and messages of an error and its causes. */
const codesOf = (cause: unknown): { readonly codes: Array<string>; readonly text: string } => {
  const codes: Array<string> = []
  let text = ""
  for (let current = cause, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") codes.push(code)
    if (current instanceof Error) text += ` ${current.message}`
    current = (current as { readonly cause?: unknown }).cause
  }
  return { codes, text }
}

/** PostgreSQL and socket codes of a connection that broke or was refused. */
const connectionCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08001",
  "08003",
  "08006"
])

/** Why a statement failed, when the driver says: a full disk, a read-only store, a lost connection. */
export const reasonOf = (cause: unknown): BackendErrorReason | undefined => {
  const { codes, text } = codesOf(cause)
  if (codes.some((code) => code === "SQLITE_FULL" || code === "53100" || code === "ENOSPC")) return "DiskFull"
  if (codes.some((code) => code.startsWith("SQLITE_READONLY") || code === "25006")) return "ReadOnly"
  if (
    codes.some((code) => connectionCodes.has(code)) ||
    /connection terminated|connection (is )?closed|connection error/i.test(text)
  ) return "ConnectionLost"
  return undefined
}

/** Whether a failed statement violated a unique constraint (SQLite or PostgreSQL). */
export const isUniqueViolation = (error: unknown): boolean => {
  const code = (error as { readonly cause?: { readonly code?: unknown } } | null)?.cause?.code
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}

/** Whether a failure came from a read-only file, directory or disk. */
export const isReadOnly = (cause: unknown): boolean =>
  reasonOf(cause) === "ReadOnly" || /readonly|read-only|EROFS|EACCES/i.test(describeCause(cause))

/** The detail of `StoreError("ReadOnly")`. */
export const readOnlyDetail = "the database cannot be written (a read-only file, directory or disk); " +
  "to read it, open it with `readOnly: true`"
