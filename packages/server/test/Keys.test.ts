/** API keys live and die: last use noted, revocation and rotation take effect on the next request, expiry. */
import { assert, describe, it } from "@effect/vitest"
import { spawnChild, tempDir } from "@multirun/core/test-utils"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Option, TestContext } from "effect"
import * as ApiKeys from "../src/ApiKeys.js"
import { bundleCli } from "./cliBundle.js"
import { request, sqliteDatabase, start } from "./TestServer.js"

const status = (url: string, key: string) =>
  Effect.promise(() => request(url, { path: "/api/runs", key })).pipe(Effect.map((answer) => answer.status))

describe("API key lifecycle", () => {
  it.scopedLive("last use is noted; revoke and rotate take effect on the next request; an expired key is refused", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const onServer = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
        Effect.provideService(effect, SqlClient.SqlClient, server.sql)
      const first = yield* onServer(ApiKeys.create("team"))
      assert.strictEqual(yield* status(server.url, first), 200)
      const [info] = (yield* onServer(ApiKeys.list("team"))).filter((key) => key.lastUsedAt !== null)
      assert.isDefined(info, "the key's last use is noted")

      const revoked = yield* onServer(ApiKeys.revoke(info!.id))
      assert.strictEqual(Option.getOrThrow(revoked).project, "team")
      assert.strictEqual(yield* status(server.url, first), 401)
      assert.isTrue(Option.isNone(yield* onServer(ApiKeys.revoke(info!.id))), "a revoked key is not revoked twice")

      const second = yield* onServer(ApiKeys.create("team"))
      const secondId = (yield* onServer(ApiKeys.list("team"))).find((key) => key.revokedAt === null)!.id
      const rotated = Option.getOrThrow(yield* onServer(ApiKeys.rotate(secondId)))
      assert.deepStrictEqual([yield* status(server.url, second), yield* status(server.url, rotated)], [401, 200])
      const states = (yield* onServer(ApiKeys.list("team"))).map((key) => key.revokedAt === null)
      assert.deepStrictEqual(states, [false, false, true])

      const lasting = yield* onServer(ApiKeys.create("team", { expiresInMs: 60_000 }))
      // made at the test clock's time 0 (1970) to last a minute: long expired on the server's live clock
      const expired = yield* onServer(ApiKeys.create("team", { expiresInMs: 60_000 })).pipe(Effect.provide(TestContext.TestContext))
      assert.deepStrictEqual(
        [yield* status(server.url, lasting), yield* status(server.url, expired)],
        [200, 401],
        "a key within its lifetime is accepted, an expired one refused"
      )
    }))

  it.scopedLive("multirun keys list | revoke | rotate", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir("keys")
      const bin = yield* bundleCli
      const cli = (...args: Array<string>) =>
        Effect.scoped(Effect.flatMap(spawnChild(process.execPath, [bin, "keys", ...args], { cwd }), (child) => child.exit)).pipe(
          Effect.map((exit) => ({ code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr }))
        )
      const created = yield* cli("create", "--project", "cli", "--expires-in-days", "30")
      assert.strictEqual(created.code, 0, created.stderr)
      const listed = yield* cli("list")
      // the table of every other command: a header, columns padded and two spaces apart
      const [header, row] = listed.stdout.trim().split("\n")
      assert.deepStrictEqual(header!.split(/ {2,}/), ["ID", "PROJECT", "CREATED", "EXPIRES", "LAST USED", "STATE"])
      const [id, project, , expires, lastUsed, state] = row!.split(/ {2,}/)
      assert.deepStrictEqual([header!.indexOf("PROJECT"), header!.indexOf("STATE")], [row!.indexOf(" cli ") + 1, row!.indexOf("active")])
      assert.deepStrictEqual([project, lastUsed, state], ["cli", "-", "active"])
      assert.match(expires!, /^\d{4}-\d\d-\d\dT/)
      assert.notInclude(listed.stdout, created.stdout.trim())
      const asJson = JSON.parse((yield* cli("list", "--json")).stdout)
      assert.deepStrictEqual(asJson.map((key: { id: string; state: string }) => [key.id, key.state]), [[id, "active"]])

      const rotated = yield* cli("rotate", id!)
      assert.strictEqual(rotated.code, 0, rotated.stderr)
      assert.match(rotated.stdout.trim(), /^mr_/)
      const again = yield* cli("revoke", id!)
      assert.strictEqual(again.code, 1)
      assert.include(again.stderr, `no live API key has the id ${id}`)
      const after = (yield* cli("list", "--project", "cli")).stdout.trim().split("\n").slice(1).map((line) => line.split(/ {2,}/)[5])
      assert.deepStrictEqual(after, ["revoked", "active"])
    }), { timeout: 120_000 })
})
