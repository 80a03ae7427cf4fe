/**
 * @multirun/sql: the durable multirun store of runs, agents, steps and checkpoints over
 * `@effect/sql`, on SQLite (embedded) and PostgreSQL.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Migrations from "./Migrations.js"
/** @since 0.3.0 */
export * as Pg from "./Pg.js"
/** @since 0.2.0 */
export * as ProjectView from "./ProjectView.js"
/** @since 0.2.0 */
export * as Retention from "./Retention.js"
/** @since 0.3.0 */
export * as RunRows from "./RunRows.js"
/** @since 0.3.0 */
export * as Sqlite from "./Sqlite.js"
/** @since 0.1.0 */
export * as SqlStore from "./SqlStore.js"
/** @since 0.2.0 */
export * as StepRows from "./StepRows.js"
/** @since 0.2.0 */
export * as SqliteOutbox from "./SqliteOutbox.js"
/** @since 0.1.0 */
export * as StoreError from "./StoreError.js"
/** @since 0.2.0 */
export * as StoreUsage from "./StoreUsage.js"
/** @since 0.3.0 */
export * as UsageByDay from "./UsageByDay.js"

export { PgClientLayer, type PgClientLayerOptions, PgLayer, type PgLayerOptions } from "./PgLayer.js"
export {
  SqliteClientLayer,
  type SqliteClientLayerOptions,
  SqliteLayer,
  type SqliteLayerOptions
} from "./SqliteLayer.js"
