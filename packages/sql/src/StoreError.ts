/**
 * The typed error of opening a store: the database is not one multirun can use.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

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
 *
 * @since 0.1.0
 */
export const StoreErrorReason = Schema.Literal(
  "NotADatabase",
  "NotMultirunDatabase",
  "NewerSchema",
  "MigrationFailed",
  "Unavailable",
  "InvalidOptions"
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
