import { assert, describe, it } from "@effect/vitest"
import { sourceNodeArgs, spawnChild, tempDir } from "@multirun/core/test-utils"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { getWithHost, request } from "./TestServer.js"

// the `multirun` command on the TypeScript sources (no build needed)
const bin = [...sourceNodeArgs, path.join(import.meta.dirname, "..", "bin", "multirun.js")]

/** Runs the command line to its end. */
const runCli = (args: ReadonlyArray<string>, cwd: string) =>
  Effect.scoped(Effect.flatMap(spawnChild(process.execPath, [...bin, ...args], { cwd }), (child) => child.exit)).pipe(
    Effect.map((exit) => ({ code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr }))
  )

describe("multirun command line", () => {
  it.scopedLive("keys create prints a key once; serve starts on the default SQLite file, answers only its --allowed-host names and stops on SIGINT", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir("cli")
      const created = yield* runCli(["keys", "create", "--project", "cli"], cwd)
      assert.strictEqual(created.code, 0, created.stderr)
      const key = created.stdout.trim()
      assert.match(key, /^mr_[A-Za-z0-9_-]{40,}$/)
      assert.isTrue(fs.existsSync(path.join(cwd, ".multirun", "server.db")))
      assert.notInclude(fs.readFileSync(path.join(cwd, ".multirun", "server.db")).toString("latin1"), key)

      const serve = yield* spawnChild(
        process.execPath,
        [...bin, "serve", "--port", "0", "--allowed-host", "runs.example.com,127.0.0.1", "--allowed-host", "localhost"],
        { cwd }
      )
      const listening = yield* serve.line(/listening on http:\/\//).pipe(Effect.timeout("30 seconds"))
      const url = /listening on (http:\/\/[^ ]+)/.exec(listening)![1]!
      const runs = yield* Effect.promise(() => request(url, { path: "/api/runs", key }))
      assert.deepStrictEqual([runs.status, runs.body], [200, []])
      const denied = yield* Effect.promise(() => request(url, { path: "/api/runs", key: "mr_wrong" }))
      assert.strictEqual(denied.status, 401)
      const port = Number(new URL(url).port)
      for (const host of ["runs.example.com", `localhost:${port}`]) {
        assert.strictEqual((yield* getWithHost(port, "/api/runs", host, key)).status, 200, host)
      }
      const foreign = yield* getWithHost(port, "/api/runs", `evil.example:${port}`, key)
      assert.deepStrictEqual([foreign.status, foreign.body.includes("--allowed-host")], [421, true])
      yield* serve.kill("SIGINT")
      const exit = yield* serve.exit.pipe(Effect.timeout("10 seconds"))
      // it ended by itself (an exit code), not by the signal's default action
      assert.deepStrictEqual([exit.code !== null, exit.signal], [true, null])

      const both = yield* runCli(["serve", "--db", "a.db", "--database-url", "postgres://x"], cwd)
      assert.strictEqual(both.code, 2)
      assert.include(both.stderr, "either --db or --database-url")
    }), { timeout: 120_000 })
})
