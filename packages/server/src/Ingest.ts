/**
 * Batched ingest: the only way runs, agents and steps reach the server's database. A batch is
 * stored in one transaction, once per batch id.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Api } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import type * as Event from "@multirun/core/Event"
import { SqlStore } from "@multirun/sql"
import { backendError } from "@multirun/sql/StoreError"
import { Effect } from "effect"

/**
 * Writes a whole batch of write events into a project in one transaction, recording the batch
 * id (table `multirun_ingest_batches`) in the same transaction: a batch whose id is already
 * recorded is not written again (`duplicate: true`), so a client may retry a batch safely.
 *
 * @since 0.1.0
 */
export const ingest = (
  project: string,
  batch: Event.Batch
): Effect.Effect<Api.IngestResult, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const write = Effect.gen(function*() {
      const fresh = yield* sql`INSERT INTO multirun_ingest_batches ${sql.insert({ project, batch_id: batch.batchId })}
        ON CONFLICT (project, batch_id) DO NOTHING RETURNING batch_id`
      if (fresh.length === 0) return new Api.IngestResult({ stored: 0, duplicate: true })
      yield* SqlStore.writeEvents(project, batch.events)
      return new Api.IngestResult({ stored: batch.events.length, duplicate: false })
    })
    return yield* Effect.mapError(sql.withTransaction(write), backendError("ingest"))
  })
