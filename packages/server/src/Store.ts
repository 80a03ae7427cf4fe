/**
 * What the server needs from the database: a read-only view of a project, batched ingest and API
 * keys. Nothing is kept per project: a view is made for each request.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import type { MultiRunClientService } from "@multirun/core/MultiRunClient"
import { ProjectView, StoreUsage, UsageByDay } from "@multirun/sql"
import { backendError } from "@multirun/sql/StoreError"
import { Context, type DateTime, Effect, Layer, type Option } from "effect"
import * as ApiKeys from "./ApiKeys.js"
import * as Ingest from "./Ingest.js"

/**
 * The server's store.
 *
 * - `view(project)`: the project's data, read straight from the database (`ProjectView`): every
 *   read is filtered by the project; checkpoints are saved at once; it holds no state.
 * - `ingest(project, batch)`: writes a batch in one transaction, once per batch id.
 * - `verifyKey(key)`: the project of an API key, none for an unknown key.
 * - `usage(project)`: what the project stores (runs by status, steps, checkpoints, bytes).
 * - `usageByDay(project, until?)`: what it spent per UTC day of the 30 that end with `until`
 *   (today when absent; since 0.3.0).
 *
 * @since 0.1.0
 */
export interface StoreService {
  readonly view: (project: string) => Effect.Effect<MultiRunClientService>
  readonly ingest: (project: string, batch: Api.IngestPayload) => Effect.Effect<Api.IngestResult, BackendError>
  readonly verifyKey: (key: string) => Effect.Effect<Option.Option<string>, BackendError>
  readonly usage: (project: string) => Effect.Effect<StoreUsage.ProjectUsage, BackendError>
  readonly usageByDay: (project: string, until?: DateTime.Utc) => Effect.Effect<UsageByDay.Report, BackendError>
}

/**
 * The store tag.
 *
 * @since 0.1.0
 */
export class Store extends Context.Tag("@multirun/server/Store")<Store, StoreService>() {}

/**
 * The store over the `SqlClient` in context (`Database.layer`).
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Store, never, SqlClient.SqlClient> = Layer.effect(
  Store,
  Effect.map(SqlClient.SqlClient, (sql) =>
    Store.of({
      view: (project) => Effect.provideService(ProjectView.make(project), SqlClient.SqlClient, sql),
      ingest: (project, batch) => Effect.provideService(Ingest.ingest(project, batch), SqlClient.SqlClient, sql),
      verifyKey: (key) => Effect.provideService(ApiKeys.verify(key), SqlClient.SqlClient, sql),
      usage: (project) =>
        StoreUsage.usage(project).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.map(([usage]) => usage ?? StoreUsage.empty(project)),
          Effect.mapError(backendError("usage"))
        ),
      usageByDay: (project, until) =>
        UsageByDay.report(project, until).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.mapError(backendError("usageByDay"))
        )
    }))
)
