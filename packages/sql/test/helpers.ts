/** Shared test helpers: temp files, the PostgreSQL probe and fresh schemas, child processes. */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Redacted } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { PgLayer, type PgLayerOptions, SqliteLayer, type SqliteLayerOptions } from "../src/index.js"
import type * as SqlStore from "../src/SqlStore.js"

/** A new empty directory under the system temp directory. */
export const tempDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), "multirun-sql-"))

/** A path for a new SQLite file. */
export const tempFile = (name = "multirun.db"): string => path.join(tempDir(), name)

/** The layers of one database: each `open()` is a new layer instance over the same database. */
export interface Database {
  readonly open: (options?: SqlStore.Options) => ReturnType<typeof SqliteLayer>
}

/** A new SQLite database in a temp file. */
export const sqliteDatabase = (): Database => {
  const filename = tempFile()
  return { open: (options) => SqliteLayer({ ...options, filename } satisfies SqliteLayerOptions) }
}

/** The PostgreSQL server of the tests. */
export const pgUrl = process.env.MULTIRUN_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const adminClient = PgClient.layer({ url: Redacted.make(pgUrl), connectTimeout: "3 seconds" })

/**
 * Whether PostgreSQL is reachable. On CI (`CI=true`) it must be: the probe throws, so the test
 * file fails. Elsewhere an unreachable server skips the PostgreSQL tests with a warning.
 */
export const probePg = async (): Promise<boolean> => {
  const reachable = await Effect.runPromise(
    Effect.provide(Effect.as(SqlClient.SqlClient, true), adminClient).pipe(Effect.orElseSucceed(() => false))
  )
  if (reachable) return true
  if (process.env.CI === "true") throw new Error(`PostgreSQL is required on CI but ${pgUrl} is unreachable`)
  console.warn(`Skipping PostgreSQL tests: ${pgUrl} is unreachable (set CI=true to make this an error)`)
  return false
}

/** A random schema name for one test file or one layer. */
export const freshSchema = (): string => `mr_test_${randomBytes(6).toString("hex")}`

/** Drops a schema and everything in it. */
export const dropSchema = (schema: string): Promise<void> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP SCHEMA IF EXISTS ${sql(schema)} CASCADE`).pipe(
      Effect.provide(adminClient),
      Effect.asVoid
    )
  )

/** A new PostgreSQL database: a fresh schema, remembered in `schemas` so the file drops it. */
export const pgDatabase = (schemas: Array<string>, extra?: Partial<PgLayerOptions>): Database => {
  const schema = freshSchema()
  schemas.push(schema)
  return { open: (options) => PgLayer({ ...extra, ...options, url: pgUrl, schema }) }
}

/** A PgLayer over a fresh schema that is dropped when the layer is released. */
export const freshPgLayer = () =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const schema = freshSchema()
    yield* Effect.addFinalizer(() => Effect.promise(() => dropSchema(schema)))
    return PgLayer({ url: pgUrl, schema })
  }))

const require = createRequire(import.meta.url)
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")

/**
 * Bundles a fixture script into one CommonJS file (with esbuild, which vitest ships), so a child
 * process starts in well under a second instead of transpiling core on every start.
 */
export const bundleFixture = async (name: string): Promise<string> => {
  const { build } = await import("esbuild")
  const outfile = path.join(tempDir(), `${name}.cjs`)
  await build({
    entryPoints: [path.join(fixtures, `${name}.ts`)],
    bundle: true,
    platform: "node",
    format: "cjs",
    outfile,
    external: ["better-sqlite3", "pg-native"],
    conditions: ["@multirun/source"],
    logLevel: "warning"
  })
  return outfile
}

const nodeModules = path.dirname(path.dirname(require.resolve("better-sqlite3/package.json")))

/** What a child process did. */
export interface ChildOutcome {
  readonly runId: string | undefined
  readonly result: unknown
  readonly killed: boolean
  /** Milliseconds from `RUN <id>` to the child's exit. */
  readonly runMs: number
  readonly code: number | null
  readonly stderr: string
}

/**
 * Runs a bundled fixture. With `killAfterMs`, the child is killed with SIGKILL that long after
 * it printed `RUN <id>` (if it has not finished by then).
 */
export const runFixture = (
  script: string,
  env: Record<string, string>,
  killAfterMs?: number
): Promise<ChildOutcome> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, ...env, NODE_PATH: nodeModules },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let runId: string | undefined
    let result: unknown
    let runStarted = 0
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const lines = stdout.split("\n")
      stdout = lines.pop()!
      for (const line of lines) {
        if (line.startsWith("RUN ") && runId === undefined) {
          runId = line.slice(4)
          runStarted = performance.now()
          if (killAfterMs !== undefined) setTimeout(() => child.kill("SIGKILL"), killAfterMs)
        } else if (line.startsWith("RESULT ")) {
          result = JSON.parse(line.slice(7))
        }
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ runId, result, killed: signal === "SIGKILL", runMs: performance.now() - runStarted, code, stderr }))
  })
