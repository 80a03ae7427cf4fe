/**
 * Test helpers: real servers on loopback ports over real SQLite files and a real PostgreSQL.
 */
import { FetchHttpClient } from "@effect/platform"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import { RemoteLayer } from "@multirun/core"
import type * as Remote from "@multirun/core/RemoteLayer"
import { ApiKeys } from "@multirun/sql"
import { afterAll, beforeAll, describe } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Database from "../src/Database.js"
import * as Server from "../src/Server.js"

/** The PostgreSQL of the tests (trust auth, database `test`). */
export const pgUrl = process.env.MULTIRUN_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** A new temporary directory, removed when the process exits. */
export const tempDir = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-server-"))
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A new SQLite database in a temporary directory. */
export const sqliteDatabase = (): Database.Options => ({ filename: path.join(tempDir(), "server.db") })

const reachable = (url: string): Promise<boolean> => {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 5432) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })
}

/**
 * Whether the PostgreSQL tests run: always on CI (where an unreachable database fails them),
 * elsewhere only when the database answers (otherwise they are skipped with a printed reason).
 */
export const pgEnabled: boolean = process.env.CI === "true" || await reachable(pgUrl).then((ok) => {
  if (!ok) console.warn(`[multirun] skipping PostgreSQL tests: nothing answers at ${pgUrl} (set CI=true to require it)`)
  return ok
})

/** `describe` that runs only when PostgreSQL tests are enabled. */
export const describePg = (name: string, body: () => void): void => {
  describe.skipIf(!pgEnabled)(name, body)
}

/** A PostgreSQL database in a fresh random schema, dropped when the test file ends. */
export const pgDatabase = (): Database.Options => {
  const schema = `multirun_test_${Math.random().toString(36).slice(2, 10)}`
  afterAll(() =>
    Effect.runPromise(
      Effect.flatMap(SqlClientTag.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
        Effect.provide(Database.layer({ url: pgUrl, schema })),
        Effect.scoped
      )
    )
  )
  return { url: pgUrl, schema }
}

/** A running server and a connection to its database, to make keys and check what it stored. */
export interface TestServer {
  readonly url: string
  readonly port: number
  readonly database: Database.Options
  readonly sql: Context.Context<SqlClient>
  /** A new API key of the project. */
  readonly keyFor: (project: string) => Effect.Effect<string>
}

/** Opens the database, then starts a server over it on a free loopback port. */
export const startServer = (
  database: Database.Options,
  options: Omit<Server.Options, "database"> = {}
): Effect.Effect<TestServer, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* Layer.build(Database.layer(database))
    const { port, url } = yield* Server.serve({ database, port: 0, ...options })
    return {
      url,
      port,
      database,
      sql,
      keyFor: (project) => Effect.orDie(Effect.provide(ApiKeys.create(project), sql))
    }
  })

/**
 * Starts a server for the whole test file (in `beforeAll`) and closes it in `afterAll`; the
 * returned getter reads it inside tests.
 */
export const serverForFile = (database: Database.Options): () => TestServer => {
  let server: TestServer | undefined
  const scope = Effect.runSync(Scope.make())
  beforeAll(async () => {
    server = await Effect.runPromise(Scope.extend(startServer(database), scope))
  })
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return () => {
    if (server === undefined) throw new Error("the server has not started")
    return server
  }
}

/** `RemoteLayer` for a new project of the server: every call gets an empty project. */
export const remoteForNewProject = (server: () => TestServer, options: Partial<Remote.Options> = {}) => {
  let projects = 0
  return () =>
    Layer.unwrapEffect(
      server().keyFor(`project-${process.pid}-${++projects}-${Math.random().toString(36).slice(2, 8)}`).pipe(
        Effect.map((apiKey) => RemoteLayer({ url: server().url, apiKey, ...options }))
      )
    )
}

/** A raw HTTP answer: status and parsed JSON body (or the text when it is not JSON). */
export interface Answer {
  readonly status: number
  readonly body: any
}

/** Sends a raw request to the server (bypassing the typed client). */
export const request = (
  url: string,
  init: { method?: string; path: string; key?: string; body?: string; headers?: Record<string, string> }
): Promise<Answer> =>
  fetch(url + init.path, {
    method: init.method ?? "GET",
    headers: {
      ...(init.key === undefined ? {} : { authorization: `Bearer ${init.key}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers
    },
    ...(init.body === undefined ? {} : { body: init.body })
  }).then(async (response) => {
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body }
  })

/** The fetch client layer, for `RemoteLayer.HttpApiClientFor` in tests. */
export const httpClient = FetchHttpClient.layer

/** Reads `Context` values, for tests that query the database directly. */
export const sqlOf = (server: TestServer) => Context.get(server.sql, SqlClientTag.SqlClient)

/**
 * Node.js arguments that run TypeScript sources in a child process without a build: the tsx
 * loader (by absolute URL, so any cwd works) and the `@multirun/source` export condition.
 */
export const sourceNodeArgs: ReadonlyArray<string> = [
  "--import",
  pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
  "--conditions=@multirun/source"
]
