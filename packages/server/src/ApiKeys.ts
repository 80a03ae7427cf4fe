/**
 * API keys of the server: each key belongs to one project. Only a key's SHA-256 hash is stored,
 * in the server's table `multirun_api_keys` (made by the server's `Migrations`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { BackendError } from "@multirun/core/Errors"
import { backendError } from "@multirun/sql/StoreError"
import { Clock, Effect, Option } from "effect"
import { createHash, randomBytes } from "node:crypto"

/**
 * Prefix of every key, so a leaked key is recognisable.
 *
 * @since 0.1.0
 */
export const prefix = "mr_"

const hash = (key: string): string => createHash("sha256").update(key).digest("hex")

/**
 * Makes a new random key for a project (`mr_` and 32 random bytes in base64url) and stores its
 * hash. The key itself is returned once and never stored.
 *
 * @since 0.1.0
 */
export const create = (project: string): Effect.Effect<string, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const key = prefix + randomBytes(32).toString("base64url")
    const createdAt = yield* Clock.currentTimeMillis
    yield* sql`INSERT INTO multirun_api_keys ${sql.insert({ key_hash: hash(key), project, created_at: createdAt })}`
    return key
  }).pipe(Effect.mapError(backendError("createApiKey")))

/**
 * The project a key belongs to, or none when the key is unknown.
 *
 * @since 0.1.0
 */
export const verify = (key: string): Effect.Effect<Option.Option<string>, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ project: string }>`SELECT project FROM multirun_api_keys WHERE key_hash = ${hash(key)}`
    return Option.fromNullable(rows[0]?.project)
  }).pipe(Effect.mapError(backendError("verifyApiKey")))
