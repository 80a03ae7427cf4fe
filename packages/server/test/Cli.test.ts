import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { request, sourceNodeArgs, tempDir } from "./utils.js"

// the `multirun` command on the TypeScript sources (no build needed)
const bin = [...sourceNodeArgs, path.join(import.meta.dirname, "..", "bin", "multirun.js")]

const runCli = (args: ReadonlyArray<string>, cwd: string) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    execFile(process.execPath, [...bin, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
    })
  })

describe("multirun command line", () => {
  it.live("keys create prints a key once; serve starts on the default SQLite file and stops on SIGINT", () =>
    Effect.gen(function*() {
      const cwd = tempDir()
      const created = yield* runCli(["keys", "create", "--project", "cli"], cwd)
      assert.strictEqual(created.code, 0, created.stderr)
      const key = created.stdout.trim()
      assert.match(key, /^mr_[A-Za-z0-9_-]{40,}$/)
      assert.isTrue(fs.existsSync(path.join(cwd, ".multirun", "server.db")))
      assert.notInclude(fs.readFileSync(path.join(cwd, ".multirun", "server.db")).toString("latin1"), key)

      const serve = spawn(process.execPath, [...bin, "serve", "--port", "0"], { cwd })
      const url = yield* Effect.async<string>((resume) => {
        let out = ""
        serve.stdout.on("data", (chunk) => {
          out += chunk
          const found = /listening on (http:\/\/[^ ]+)/.exec(out)
          if (found) resume(Effect.succeed(found[1]!))
        })
      }).pipe(Effect.timeout("30 seconds"))
      const runs = yield* Effect.promise(() => request(url, { path: "/api/runs", key }))
      assert.deepStrictEqual([runs.status, runs.body], [200, []])
      const denied = yield* Effect.promise(() => request(url, { path: "/api/runs", key: "mr_wrong" }))
      assert.strictEqual(denied.status, 401)
      const exit = yield* Effect.async<number | null>((resume) => {
        serve.once("exit", (code) => resume(Effect.succeed(code)))
        serve.kill("SIGINT")
      }).pipe(Effect.timeout("10 seconds"))
      assert.notStrictEqual(exit, null)

      const both = yield* runCli(["serve", "--db", "a.db", "--database-url", "postgres://x"], cwd)
      assert.strictEqual(both.code, 2)
      assert.include(both.stderr, "either --db or --database-url")
    }), { timeout: 120_000 })
})
