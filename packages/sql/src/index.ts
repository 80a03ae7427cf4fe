/**
 * @multirun/sql: the durable multirun store over `@effect/sql`, on SQLite (embedded) and
 * PostgreSQL.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ApiKeys from "./ApiKeys.js"
/** @since 0.1.0 */
export * as Migrations from "./Migrations.js"
/** @since 0.1.0 */
export * as SqlStore from "./SqlStore.js"
/** @since 0.1.0 */
export * as StoreError from "./StoreError.js"

export { PgLayer, type PgLayerOptions } from "./PgLayer.js"
export { SqliteLayer, type SqliteLayerOptions } from "./SqliteLayer.js"
