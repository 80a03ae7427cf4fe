/**
 * The PostgreSQL of the tests: one URL, one probe, one rule for CI, and scoped schemas.
 *
 * - `MULTIRUN_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`, trust auth).
 * - With `CI=true` PostgreSQL must be up: an unreachable server makes the PostgreSQL tests fail.
 *   Elsewhere they are skipped, with a message on the console.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type { Scope } from "effect"
import { randomBytes } from "node:crypto"

/**
 * The URL of the tests' PostgreSQL database, from `MULTIRUN_TEST_PG_URL`.
 *
 * @since 0.1.0
 */
export const pgUrl: string = process.env.MULTIRUN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/**
 * Whether this is a CI run (`CI=true`), where PostgreSQL is required.
 *
 * @since 0.1.0
 */
export const isCI: boolean = process.env.CI === "true"

/**
 * Runs one statement on the test database with its own connection and runtime, so it works the
 * same inside `it.effect` (TestClock) and outside.
 */
const admin = <A>(statement: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError>): Promise<A> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, statement).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl), connectTimeout: "3 seconds" })),
      Effect.scoped
    )
  )

let probe: Promise<boolean> | undefined

/**
 * Whether the test database answers a query: probed once per test file (process), then remembered.
 *
 * @since 0.1.0
 */
export const pgReachable = (): Promise<boolean> =>
  probe ??= admin((sql) => sql`SELECT 1`).then(() => true, () => false)

/**
 * `describe` for tests that need PostgreSQL. When the database is unreachable, the block is a
 * failing test on CI and is skipped elsewhere, with a message.
 *
 * @since 0.1.0
 */
export const describePg = (name: string, body: () => void): void => {
  describe(name, async () => {
    if (await pgReachable()) return body()
    if (isCI) {
      it("PostgreSQL is reachable (required when CI=true)", () => {
        throw new Error(`PostgreSQL is required on CI but nothing answers at ${pgUrl} (MULTIRUN_TEST_PG_URL)`)
      })
      return
    }
    console.warn(
      `[multirun] skipping "${name}": PostgreSQL is unreachable at ${pgUrl} ` +
        `(set MULTIRUN_TEST_PG_URL, or CI=true to make this a failure)`
    )
    describe.skip(name, body)
  })
}

/**
 * Drops a schema and everything in it.
 *
 * @since 0.1.0
 */
export const dropSchema = (schema: string): Promise<void> =>
  admin((sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).then(() => undefined)

/**
 * A fresh schema name (`multirun_test_<random>`) for one test or one layer; the schema, created
 * by whoever uses it, is dropped when the scope closes.
 *
 * @since 0.1.0
 */
export const pgSchema: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => `multirun_test_${randomBytes(6).toString("hex")}`),
  (schema) => Effect.promise(() => dropSchema(schema))
)
