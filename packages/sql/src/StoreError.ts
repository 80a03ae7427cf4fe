/**
 * The errors of the store: `StoreError` when a database cannot be opened, and failed statements
 * as core's `BackendError`.
 *
 * @since 0.1.0
 */
import { BackendError } from "@multirun/core/Errors"
import { Schema } from "effect"
import * as path from "node:path"
import { describeCause, reasonOf } from "./internal/sql.js"

/**
 * Why a store could not be opened.
 *
 * - `NotADatabase`: the file is not a SQLite database at all.
 * - `NotMultirunDatabase`: the database holds other tables and no multirun tables; multirun does
 *   not create its tables in someone else's database.
 * - `NewerSchema`: the database was created by a newer multirun than this one.
 * - `MigrationFailed`: creating or upgrading the tables failed.
 * - `Unavailable`: the database could not be reached or opened.
 * - `InvalidOptions`: the layer's options cannot be used (e.g. a malformed schema name).
 * - `ReadOnly`: the file or its directory cannot be written; open it with `readOnly: true`.
 * - `OlderSchema`: opened with `readOnly: true`, the database still needs an upgrade that only
 *   a writable opening makes.
 *
 * @since 0.1.0
 */
export const StoreErrorReason = Schema.Literal(
  "NotADatabase",
  "NotMultirunDatabase",
  "NewerSchema",
  "MigrationFailed",
  "Unavailable",
  "InvalidOptions",
  "ReadOnly",
  "OlderSchema"
)

/** @since 0.1.0 */
export type StoreErrorReason = typeof StoreErrorReason.Type

/**
 * A store could not be opened. `location` names the database (a file path, or a PostgreSQL
 * address without its password) and `detail` says what was found and what was expected.
 *
 * @since 0.1.0
 */
export class StoreError extends Schema.TaggedError<StoreError>("@multirun/sql/StoreError")("StoreError", {
  reason: StoreErrorReason,
  location: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `StoreError(${this.reason}) for ${this.location}: ${this.detail}`
  }
}

/**
 * How errors name a database: a SQLite file by its absolute path, a PostgreSQL database by its
 * address without the password and query, with the schema (default `public`).
 *
 * @since 0.2.0
 */
export const locationOf = (
  database: { readonly filename: string } | { readonly url: string; readonly schema?: string | undefined }
): string => {
  if ("filename" in database) return path.resolve(database.filename)
  try {
    const shown = new URL(database.url)
    shown.password = ""
    shown.search = ""
    return `${shown.toString()} (schema ${database.schema ?? "public"})`
  } catch {
    return "PostgreSQL"
  }
}

/**
 * A failed statement of a store operation as core's `BackendError`, whose detail carries the
 * driver's message (a `SqlError`'s own message does not), with the reason when the driver's
 * codes tell it (`DiskFull`, `ReadOnly`, `ConnectionLost`) and the database's location.
 *
 * @since 0.2.0
 */
export const backendError = (operation: string, location?: string) => (cause: unknown): BackendError => {
  if (cause instanceof BackendError) return cause
  const reason = reasonOf(cause)
  return new BackendError({
    operation,
    detail: describeCause(cause),
    ...(reason === undefined ? {} : { reason }),
    ...(location === undefined ? {} : { location })
  })
}
