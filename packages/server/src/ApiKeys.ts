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

/** A key's public id: the first 16 hex digits of its hash (the key cannot be derived from it). */
const idOf = (keyHash: string): string => keyHash.slice(0, 16)

/**
 * Options of a new key: `expiresInMs`, after which it is refused (default: never).
 *
 * @since 0.2.0
 */
export interface CreateOptions {
  readonly expiresInMs?: number | undefined
}

/**
 * Makes a new random key for a project (`mr_` and 32 random bytes in base64url) and stores its
 * hash. The key itself is returned once and never stored.
 *
 * @since 0.1.0
 */
export const create = (
  project: string,
  options: CreateOptions = {}
): Effect.Effect<string, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const key = prefix + randomBytes(32).toString("base64url")
    const keyHash = hash(key)
    const createdAt = yield* Clock.currentTimeMillis
    yield* sql`INSERT INTO multirun_api_keys ${
      sql.insert({
        key_hash: keyHash,
        id: idOf(keyHash),
        project,
        created_at: createdAt,
        expires_at: options.expiresInMs === undefined ? null : createdAt + options.expiresInMs
      })
    }`
    return key
  }).pipe(Effect.mapError(backendError("createApiKey")))

/** How often a key's last-used time is written at most (a write per request would cost). */
const lastUsedResolutionMs = 60_000

/**
 * The project a key belongs to, or none when the key is unknown, revoked or expired. Notes the
 * key's last use (to the minute).
 *
 * @since 0.1.0
 */
export const verify = (key: string): Effect.Effect<Option.Option<string>, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const rows = yield* sql<KeyRow>`SELECT ${sql.literal(keyColumns)} FROM multirun_api_keys
      WHERE key_hash = ${hash(key)}`
    const row = rows[0]
    if (row === undefined || row.revoked_at !== null || (row.expires_at !== null && Number(row.expires_at) <= now)) {
      return Option.none()
    }
    if (row.last_used_at === null || now - Number(row.last_used_at) >= lastUsedResolutionMs) {
      yield* sql`UPDATE multirun_api_keys SET last_used_at = ${now} WHERE id = ${row.id}`
    }
    return Option.some(row.project)
  }).pipe(Effect.mapError(backendError("verifyApiKey")))

interface KeyRow {
  readonly id: string
  readonly project: string
  readonly created_at: number | string
  readonly expires_at: number | string | null
  readonly last_used_at: number | string | null
  readonly revoked_at: number | string | null
}

const keyColumns = "id, project, created_at, expires_at, last_used_at, revoked_at"

/**
 * What is known of a key (never the key itself): its id, project and lifecycle times in
 * milliseconds since the epoch.
 *
 * @since 0.2.0
 */
export interface KeyInfo {
  readonly id: string
  readonly project: string
  readonly createdAt: number
  readonly expiresAt: number | null
  readonly lastUsedAt: number | null
  readonly revokedAt: number | null
}

const millis = (value: number | string | null): number | null => value === null ? null : Number(value)

const infoOf = (row: KeyRow): KeyInfo => ({
  id: row.id,
  project: row.project,
  createdAt: Number(row.created_at),
  expiresAt: millis(row.expires_at),
  lastUsedAt: millis(row.last_used_at),
  revokedAt: millis(row.revoked_at)
})

/**
 * The keys of a project, or of every project, oldest first.
 *
 * @since 0.2.0
 */
export const list = (project?: string): Effect.Effect<ReadonlyArray<KeyInfo>, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = project === undefined
      ? yield* sql<KeyRow>`SELECT ${sql.literal(keyColumns)} FROM multirun_api_keys ORDER BY created_at, id`
      : yield* sql<KeyRow>`SELECT ${sql.literal(keyColumns)} FROM multirun_api_keys
          WHERE project = ${project} ORDER BY created_at, id`
    return rows.map(infoOf)
  }).pipe(Effect.mapError(backendError("listApiKeys")))

/**
 * Revokes a key by id: the next request with it answers 401. None when no live key has that id.
 *
 * @since 0.2.0
 */
export const revoke = (id: string): Effect.Effect<Option.Option<KeyInfo>, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const rows = yield* sql<KeyRow>`UPDATE multirun_api_keys SET revoked_at = ${now}
      WHERE id = ${id} AND revoked_at IS NULL RETURNING ${sql.literal(keyColumns)}`
    return Option.map(Option.fromNullable(rows[0]), infoOf)
  }).pipe(Effect.mapError(backendError("revokeApiKey")))

/**
 * Replaces a key: a new key for the same project (with the same lifetime, counted from now) and
 * the old one revoked, in one transaction. None when no live key has that id.
 *
 * @since 0.2.0
 */
export const rotate = (id: string): Effect.Effect<Option.Option<string>, BackendError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(Effect.gen(function*() {
      const revoked = yield* revoke(id)
      if (Option.isNone(revoked)) return Option.none()
      const { createdAt, expiresAt, project } = revoked.value
      const key = yield* create(project, expiresAt === null ? {} : { expiresInMs: expiresAt - createdAt })
      return Option.some(key)
    })).pipe(Effect.mapError(backendError("rotateApiKey")))
  })
