/**
 * The PostgreSQL backend, for the server at scale.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Effect, Layer, Redacted } from "effect"
import { exclusively } from "./internal/migrationLock.js"
import { describeCause } from "./internal/sql.js"
import * as Migrations from "./Migrations.js"
import * as SqlStore from "./SqlStore.js"
import { locationOf, StoreError } from "./StoreError.js"

/**
 * Options of {@link PgClientLayer}: the connection URL (`postgres://user:pass@host:5432/db`) and
 * the schema holding the tables (default `public`; created when missing; letters, digits and `_`).
 *
 * @since 0.2.0
 */
export interface PgClientLayerOptions {
  readonly url: string
  readonly schema?: string | undefined
}

/**
 * Options of {@link PgLayer}: those of {@link PgClientLayer}, the project and the writer's buffer.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Pg.Options`.
 * @since 0.1.0
 */
export interface PgLayerOptions extends SqlStore.Options, PgClientLayerOptions {}

/**
 * The `SqlClient` of a PostgreSQL schema with multirun's tables migrated, and no store: no
 * writer, no default project. For tools that only read (`ProjectView.layer(project)` over it)
 * and for the server, which adds its own tables. Every connection's `search_path` is the
 * schema, which is created when missing, then the migrations run; failures are `StoreError`
 * naming the address without its password (`Unavailable`, `InvalidOptions`, `NewerSchema`,
 * `MigrationFailed`).
 *
 * @since 0.2.0
 */
export const PgClientLayer = (options: PgClientLayerOptions): Layer.Layer<SqlClient.SqlClient, StoreError> => {
  const schema = options.schema ?? "public"
  const location = locationOf(options)
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    return Layer.fail(new StoreError({ reason: "InvalidOptions", location, detail: "the url is not a valid URL" }))
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(schema)) {
    return Layer.fail(
      new StoreError({
        reason: "InvalidOptions",
        location,
        detail: "the schema name may hold only letters, digits and underscores, and not start with a digit"
      })
    )
  }
  url.searchParams.set("options", `-c search_path="${schema}"`)
  const client = PgClient.layer({ url: Redacted.make(url.toString()) }).pipe(
    Layer.mapError((error) =>
      new StoreError({
        reason: "Unavailable",
        location,
        detail: `could not connect to PostgreSQL: ${describeCause(error)}`
      })
    )
  )
  const setup = Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // replicas starting together take turns, as they do for the migrations
    yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`.pipe(
      exclusively(schema),
      Effect.mapError((error) =>
        new StoreError({
          reason: "Unavailable",
          location,
          detail: `could not create the schema: ${describeCause(error)}`
        })
      )
    )
    yield* Migrations.run(location)
  }))
  return Layer.provideMerge(setup, client)
}

/**
 * The PostgreSQL backend: the store of one project and core's checkpoint service, plus the
 * `SqlClient` of {@link PgClientLayer} (same schema, checks and migrations). Closing the layer
 * flushes the writer.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Pg.layer(options)` (`import { Pg } from "@multirun/sql"`),
 * or `Pg.layerConfig` to read the options through `Config`.
 * @since 0.1.0
 */
export const PgLayer = (
  options: PgLayerOptions
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError> =>
  SqlStore.layer(options, locationOf(options)).pipe(Layer.provideMerge(PgClientLayer(options)))
