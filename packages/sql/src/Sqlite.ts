/**
 * The SQLite backend: runs, agents, steps and checkpoints of one project in a SQLite file,
 * embedded in the process.
 *
 * @example
 * import { Sqlite } from "@multirun/sql"
 * program.pipe(Effect.provide(Sqlite.layer({ filename: "runs.db", project: "my-project" })))
 *
 * @since 0.3.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Config, Effect, Layer } from "effect"
import type { ConfigError } from "effect"
import * as SqliteLayer from "./SqliteLayer.js"
import type * as SqlStore from "./SqlStore.js"
import type { StoreError } from "./StoreError.js"

/**
 * The file (`filename`), the project, how long a statement waits for another process's lock
 * (`busyTimeoutMs`, default 5,000), `readOnly`, and the writer's buffer.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends SqlStore.Options, SqliteLayer.SqliteClientLayerOptions {}

/**
 * The SQLite backend: the store of one project and core's checkpoint service over a file, plus
 * its `SqlClient`. At start it checks the file (`StoreError` naming it when it is not a SQLite
 * database, another application's database, or of a newer schema), turns on WAL and runs the
 * migrations. Closing the layer flushes the writer before the file is closed. Replaces
 * `SqliteLayer` (0.2).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError> => SqliteLayer.SqliteLayer(options)

/**
 * {@link layer} with its options read through `Config`, e.g.
 * `Sqlite.layerConfig({ filename: Config.string("MULTIRUN_SQLITE_FILE"), project: Config.string("MULTIRUN_PROJECT") })`.
 * A missing or malformed value fails the layer with a `ConfigError` naming it.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
