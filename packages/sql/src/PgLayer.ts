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
import { describeCause } from "./internal/sql.js"
import * as Migrations from "./Migrations.js"
import * as SqlStore from "./SqlStore.js"
import { StoreError } from "./StoreError.js"

/**
 * Options of {@link PgLayer}: the connection URL (`postgres://user:pass@host:5432/db`), the
 * schema holding the tables (default `public`; created when missing; letters, digits and `_`),
 * the project and the writer's buffer.
 *
 * @since 0.1.0
 */
export interface PgLayerOptions extends SqlStore.Options {
  readonly url: string
  readonly schema?: string | undefined
}

/** The address without its password, for messages. */
const describeUrl = (url: URL, schema: string): string => {
  const shown = new URL(url.toString())
  shown.password = ""
  shown.search = ""
  return `${shown.toString()} (schema ${schema})`
}

/**
 * The PostgreSQL backend: the store and core's checkpoint service, plus the `SqlClient`. Every
 * connection's `search_path` is the schema, which is created when missing, then the
 * migrations run (a schema of a newer multirun is refused with `StoreError("NewerSchema")`).
 *
 * @since 0.1.0
 */
export const PgLayer = (
  options: PgLayerOptions
): Layer.Layer<MultiRunClient | Checkpoints | SqlClient.SqlClient, StoreError> => {
  const schema = options.schema ?? "public"
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    return Layer.fail(
      new StoreError({ reason: "InvalidOptions", location: "PostgreSQL", detail: "the url is not a valid URL" })
    )
  }
  const location = describeUrl(url, schema)
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
    yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`.pipe(
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
  return SqlStore.layer(options).pipe(Layer.provideMerge(Layer.provideMerge(setup, client)))
}
