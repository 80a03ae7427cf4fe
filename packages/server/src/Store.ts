/**
 * What the server needs from the database: one backend per project, batched ingest and API keys.
 *
 * @since 0.1.0
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { BackendError } from "@multirun/core/Errors"
import type * as Event from "@multirun/core/Event"
import type { MultiRunClientService } from "@multirun/core/MultiRunClient"
import { ApiKeys, SqlStore } from "@multirun/sql"
import { Context, Effect, Layer, type Option, Scope } from "effect"

/**
 * The server's store.
 *
 * - `clientFor(project)`: the backend of one project; every read and write stays in it.
 * - `ingest(project, batch)`: writes a batch in one transaction, once per batch id.
 * - `verifyKey(key)`: the project of an API key, none for an unknown key.
 *
 * @since 0.1.0
 */
export interface StoreService {
  readonly clientFor: (project: string) => Effect.Effect<MultiRunClientService>
  readonly ingest: (project: string, batch: Event.Batch) => Effect.Effect<SqlStore.IngestResult, BackendError>
  readonly verifyKey: (key: string) => Effect.Effect<Option.Option<string>, BackendError>
}

/**
 * The store tag.
 *
 * @since 0.1.0
 */
export class Store extends Context.Tag("@multirun/server/Store")<Store, StoreService>() {}

/**
 * The store over the `SqlClient` in context (`SqliteLayer` or `PgLayer` of `@multirun/sql`).
 * Each project's backend is made once and lives as long as the layer.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Store, never, SqlClient> = Layer.scoped(
  Store,
  Effect.gen(function*() {
    const context = yield* Effect.context<SqlClient>()
    const scope = yield* Effect.scope
    const clientFor = yield* Effect.cachedFunction((project: string) =>
      SqlStore.make({ project }).pipe(Scope.extend(scope), Effect.provide(context))
    )
    return Store.of({
      clientFor,
      ingest: (project, batch) => Effect.provide(SqlStore.ingest(project, batch), context),
      verifyKey: (key) => Effect.provide(ApiKeys.verify(key), context)
    })
  })
)
