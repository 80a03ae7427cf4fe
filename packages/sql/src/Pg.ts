/**
 * The PostgreSQL backend: runs, agents, steps and checkpoints of one project in a PostgreSQL
 * schema, for the server at scale.
 *
 * @example
 * import { Pg } from "@multirun/sql"
 * program.pipe(Effect.provide(Pg.layer({ url: "postgres://user:pass@host:5432/db", project: "my-project" })))
 *
 * @since 0.3.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Config, Effect, Layer } from "effect"
import type { ConfigError } from "effect"
import * as PgLayer from "./PgLayer.js"
import type * as SqlStore from "./SqlStore.js"
import type { StoreError } from "./StoreError.js"

/**
 * The connection `url`, the `schema` holding the tables (default `public`), the project and the
 * writer's buffer.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends SqlStore.Options, PgLayer.PgClientLayerOptions {}

/**
 * The PostgreSQL backend: the store of one project and core's checkpoint service, plus its
 * `SqlClient`. The schema is created when missing and migrated; failures are `StoreError`
 * naming the address without its password. Closing the layer flushes the writer. Replaces
 * `PgLayer` (0.2).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError> => PgLayer.PgLayer(options)

/**
 * {@link layer} with its options read through `Config`, e.g.
 * `Pg.layerConfig({ url: Config.string("MULTIRUN_PG_URL"), project: Config.string("MULTIRUN_PROJECT") })`.
 * A missing or malformed value fails the layer with a `ConfigError` naming it.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
