/**
 * The `Host` check against DNS rebinding: `multirun ui` answers only loopback names at its port,
 * `multirun serve` with `allowedHosts` only the listed ones; any other `Host` gets 421, on the
 * viewer page and on the API alike. Real servers on loopback, raw requests through `node:http`
 * (fetch does not let a caller set `Host`).
 */
import { assert, describe, it } from "@effect/vitest"
import { tempFile } from "@multirun/core/test-utils"
import { withRun } from "@multirun/core"
import { SqliteLayer } from "@multirun/sql"
import { DefaultServices, Effect } from "effect"
import * as Local from "../src/Local.js"
import { getWithHost as get, sqliteDatabase, start } from "./TestServer.js"

const paths = ["/", "/api/runs"]

describe("Host check", () => {
  it.scopedLive("multirun ui answers loopback names at its port and 421 to any other Host", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile("runs.db")
      yield* withRun("hosted")(Effect.void).pipe(Effect.provide(SqliteLayer({ filename })))
      const { port } = yield* Local.serve({ filename, port: 0 })
      for (const path of paths) {
        for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LocalHost:${port}`]) {
          const answer = yield* get(port, path, host)
          assert.strictEqual(answer.status, 200, `${path} with Host ${host}: ${answer.body}`)
        }
        for (const host of [`evil.example:${port}`, "evil.example", `127.0.0.1:${port + 1}`, "localhost", `127.0.0.1.evil.example:${port}`]) {
          const answer = yield* get(port, path, host)
          assert.strictEqual(answer.status, 421, `${path} with Host ${host}`)
          assert.include(answer.body, `http://127.0.0.1:${port}/`)
          assert.notInclude(answer.body, "hosted")
        }
      }
    }).pipe(Effect.locally(DefaultServices.currentServices, DefaultServices.liveServices)), { timeout: 30_000 })

  it.scopedLive("multirun serve with allowedHosts answers the listed hosts and 421 to others; without, any", () =>
    Effect.gen(function*() {
      // an entry without a port allows its name at any port; one with a port, only that port
      const { port, apiKey } = yield* start(yield* sqliteDatabase, { allowedHosts: ["runs.example.com", "127.0.0.1:1"] })
      for (const path of paths) {
        const ok = yield* get(port, path, "runs.example.com:8443", apiKey)
        assert.strictEqual(ok.status, 200, `${path}: ${ok.body}`)
        for (const host of [`evil.example:${port}`, `127.0.0.1:${port}`, "runs.example.com.evil"]) {
          const answer = yield* get(port, path, host, apiKey)
          assert.strictEqual(answer.status, 421, `${path} with Host ${host}`)
          assert.include(answer.body, "--allowed-host")
        }
      }
      const open = yield* start(yield* sqliteDatabase)
      for (const path of paths) {
        const anyHost = yield* get(open.port, path, `evil.example:${open.port}`, open.apiKey)
        assert.strictEqual(anyHost.status, 200, path)
      }
    }), { timeout: 30_000 })
})
