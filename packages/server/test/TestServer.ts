/**
 * The server fixture: a real `multirun serve` server (the `Server.serve` the command runs) in
 * this process, on a free port of 127.0.0.1, over a scoped SQLite file or a scoped PostgreSQL
 * schema, with an API key. Closing the scope stops the server and removes its database.
 *
 * Use it through `layer(...)` from `@effect/vitest`:
 *
 * ```ts
 * layer(TestServer.layerSqlite(), { excludeTestServices: true })("my server tests", (it) => {
 *   it.effect("answers", () => Effect.gen(function*() {
 *     const { url, apiKey } = yield* TestServer.TestServer
 *   }))
 * })
 * ```
 */
import { FetchHttpClient } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { Outbox, RemoteLayer } from "@multirun/core"
import type { Checkpoints } from "@multirun/core/Checkpoints"
import type { BackendError } from "@multirun/core/Errors"
import type { MultiRunClient } from "@multirun/core/MultiRunClient"
import type * as Remote from "@multirun/core/RemoteLayer"
import { pgSchema, pgUrl, tempFile } from "@multirun/core/test-utils"
import * as ApiKeys from "../src/ApiKeys.js"
import { Context, DefaultServices, Effect, Layer, Logger } from "effect"
import type { Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import * as Database from "../src/Database.js"
import * as Server from "../src/Server.js"

/** A running test server. */
export interface TestServerService {
  readonly url: string
  readonly port: number
  /** A key of the project `test`. */
  readonly apiKey: string
  readonly database: Database.Options
  /** The server's database, to check what it stored. */
  readonly sql: SqlClient.SqlClient
  /** A new API key of the project. */
  readonly keyFor: (project: string) => Effect.Effect<string>
}

/** The test server of a `layer(...)` block. */
export class TestServer extends Context.Tag("@multirun/server/test/TestServer")<TestServer, TestServerService>() {}

/**
 * Starts a server over `database` in the scope (with the live clock, also inside `it.effect`,
 * because it serves real sockets). Closing the scope stops it: in-flight requests finish first.
 */
export const start = (
  database: Database.Options,
  options: Omit<Server.Options, "database"> = {}
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Database.layer(database))
    const { port, url } = yield* Server.serve({ database, port: 0, ...options })
    const keyFor = (project: string) => Effect.orDie(Effect.provide(ApiKeys.create(project), context))
    return TestServer.of({
      url,
      port,
      apiKey: yield* keyFor("test"),
      database,
      sql: Context.get(context, SqlClient.SqlClient),
      keyFor
    })
  }).pipe(Effect.locally(DefaultServices.currentServices, DefaultServices.liveServices))

/** A new SQLite database in a scoped temporary directory. */
export const sqliteDatabase: Effect.Effect<Database.Options, never, Scope.Scope> = Effect.map(
  tempFile("server.db"),
  (filename) => ({ filename })
)

/** A new PostgreSQL schema of the test database, dropped when the scope closes. */
export const pgDatabase: Effect.Effect<Database.Options, never, Scope.Scope> = Effect.map(
  pgSchema,
  (schema) => ({ url: pgUrl, schema })
)

/** A server over a new SQLite database, for `layer(...)`. */
export const layerSqlite = (options: Omit<Server.Options, "database"> = {}): Layer.Layer<TestServer, unknown> =>
  Layer.scoped(TestServer, Effect.flatMap(sqliteDatabase, (database) => start(database, options)))

/** A server over a new PostgreSQL schema, for `layer(...)`. */
export const layerPg = (options: Omit<Server.Options, "database"> = {}): Layer.Layer<TestServer, unknown> =>
  Layer.scoped(TestServer, Effect.flatMap(pgDatabase, (database) => start(database, options)))

/** `RemoteLayer` with the memory outbox (`Outbox.layerMemory`). */
export const memoryRemote = (options: Remote.Options): Layer.Layer<MultiRunClient | Checkpoints, BackendError> =>
  RemoteLayer(options).pipe(Layer.provide(Outbox.layerMemory))

/** `RemoteLayer` to the block's server, in a new (empty) project each time it is built. */
export const remoteLayer = (
  options: Partial<Remote.Options> = {}
): Layer.Layer<MultiRunClient | Checkpoints, BackendError, TestServer> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const server = yield* TestServer
    const apiKey = yield* server.keyFor(`project-${randomUUID()}`)
    return memoryRemote({ url: server.url, apiKey, ...options })
  }))

/** A raw HTTP answer: status and parsed JSON body (or the text when it is not JSON). */
export interface Answer {
  readonly status: number
  readonly body: any
}

/** A body sent with `Transfer-Encoding: chunked` (no `Content-Length`), in chunks of 64 KiB. */
const chunkedBody = (bytes: Uint8Array): ReadableStream<Uint8Array> => {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset += 64 * 1024))
    }
  })
}

/**
 * Sends a raw request to the server (bypassing the typed client). A body is sent with
 * `Content-Length`, or with `chunked: true` as `Transfer-Encoding: chunked`.
 */
export const request = (
  url: string,
  init: {
    method?: string
    path: string
    key?: string
    body?: string | Uint8Array
    chunked?: boolean
    headers?: Record<string, string>
  }
): Promise<Answer> => {
  const body = init.body === undefined
    ? {}
    : init.chunked === true
    ? { body: chunkedBody(typeof init.body === "string" ? new TextEncoder().encode(init.body) : init.body), duplex: "half" }
    : { body: init.body }
  return fetch(url + init.path, {
    method: init.method ?? "GET",
    headers: {
      ...(init.key === undefined ? {} : { authorization: `Bearer ${init.key}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers
    },
    ...body
  } as RequestInit).then(async (response) => {
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body }
  })
}

/**
 * GET `path` on 127.0.0.1:`port` with the given `Host` header (which `fetch` does not let a caller
 * set), and the API key when given: status, headers and body text.
 */
export const getWithHost = (port: number, path: string, host: string, key?: string) =>
  Effect.async<
    { readonly status: number; readonly headers: Http.IncomingHttpHeaders; readonly body: string },
    Error
  >((resume) => {
    const request = Http.request({
      host: "127.0.0.1",
      port,
      path,
      headers: { host, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) }
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString()
        }))
      )
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end()
  })

/** The fetch client layer, for `RemoteLayer.HttpApiClientFor` in tests. */
export const httpClient = FetchHttpClient.layer

/** Warnings logged through `effect`, captured instead of printed: the list and the logger layer. */
export const captureWarnings = () => {
  const warnings: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(message))
    })
  )
  return { warnings, logger }
}
