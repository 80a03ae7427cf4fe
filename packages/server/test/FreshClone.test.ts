/**
 * The repository as a new contributor gets it: a fresh clone of this checkout's HEAD, the
 * README's two commands (`npm ci && npm run demo` run; `npm test` checked to be a script, not
 * run inside a test), then every `npx multirun …` command the demo prints at its end: a server
 * command (`ui`, `serve`) is started, asked over HTTP and stopped; any other runs to its end.
 *
 * Slow (npm ci installs and builds every package). better-sqlite3 is not compiled again: the
 * binary this checkout already built is handed to its installer as a local prebuild
 * (`npm_config_better_sqlite3_local_prebuilds`, prebuild-install's own option). Skipped, with a
 * message saying so, only when the npm registry cannot be reached.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnChild, tempDir } from "@multirun/core/test-utils"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { commandEnv, expectOk, localPrebuild, repoRoot, run } from "./readme.js"
import { request } from "./TestServer.js"

/** The README's first ```sh block: the commands a new contributor types first. */
const readmeCommands = (): Array<string> => {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")
  const block = /```sh\n([\s\S]*?)```/.exec(readme)![1]!
  return block.split("\n").map((line) => line.replace(/#.*$/, "").trim()).filter((line) => line !== "")
}

describe("a fresh clone", () => {
  it.scopedLive("npm ci && npm run demo, then every command the demo prints, works", (ctx) =>
    Effect.gen(function*() {
      const root = yield* tempDir("fresh")
      const tmp = path.join(root, "tmp")
      const prebuilds = path.join(root, "prebuilds")
      fs.mkdirSync(tmp)
      fs.mkdirSync(prebuilds)
      const env = commandEnv(tmp)
      const ping = yield* run("npm", ["ping"], { cwd: root, env, timeoutMs: 30_000 })
      if (ping.code !== 0) {
        return ctx.skip(`the npm registry cannot be reached (npm ping: ${ping.stderr.trim().split("\n").at(-1)}); npm ci needs it`)
      }

      assert.deepStrictEqual(readmeCommands(), ["npm ci && npm run demo", "npm test"])
      const head = (yield* run("git", ["rev-parse", "HEAD"], { cwd: repoRoot, env })).stdout.trim()
      const clone = path.join(root, "clone")
      expectOk(yield* run("git", ["clone", "--quiet", "--no-checkout", repoRoot, clone], { cwd: root, env }), "git clone")
      expectOk(yield* run("git", ["checkout", "--quiet", "--detach", head], { cwd: clone, env }), "git checkout")

      yield* localPrebuild(prebuilds, env)
      const installEnv = { ...env, npm_config_better_sqlite3_local_prebuilds: prebuilds }
      const started = Date.now()
      const ci = yield* run("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], {
        cwd: clone,
        env: installEnv,
        timeoutMs: 900_000
      })
      expectOk(ci, "npm ci")
      const demo = yield* run("npm", ["run", "demo"], { cwd: clone, env, timeoutMs: 300_000 })
      expectOk(demo, "npm run demo")
      ctx.annotate(`npm ci && npm run demo: ${Math.round((Date.now() - started) / 1000)} s`)
      const scripts = JSON.parse(fs.readFileSync(path.join(clone, "package.json"), "utf8")).scripts
      assert.isString(scripts.test, "npm test is a script")

      // `npx multirun` runs the package's bin from node_modules/.bin: run that file directly, so
      // stopping it stops the command itself and not only npx
      const bin = path.join(clone, "node_modules", ".bin", "multirun")
      assert.isTrue(fs.existsSync(bin), "npm ci linked node_modules/.bin/multirun")
      const printed = [...demo.stdout.matchAll(/npx multirun ([^`\n]+)/g)].map((match) => match[1]!.trim())
      assert.isAbove(printed.length, 0, `the demo prints a multirun command\n${demo.stdout}`)
      for (const command of printed) {
        const args = command.split(/\s+/)
        if (args[0] === "ui" || args[0] === "serve") {
          // a free port instead of the default one, which another program may hold
          const child = yield* spawnChild(bin, [...args, "--port", "0"], {
            cwd: clone,
            env: env as Record<string, string>
          })
          const listening = yield* child.line(/http:\/\/127\.0\.0\.1:\d+/).pipe(
            Effect.timeoutFail({
              duration: "60 seconds",
              onTimeout: () => new Error(`multirun ${command} did not start`)
            })
          )
          const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)![1]!
          const page = yield* Effect.promise(() => request(url, { path: "/" }))
          assert.strictEqual(page.status, 200, `GET / of multirun ${command}`)
          const runs = yield* Effect.promise(() => request(url, { path: "/api/runs" }))
          assert.strictEqual(runs.status, 200, `GET /api/runs of multirun ${command}`)
          assert.deepStrictEqual((runs.body as ReadonlyArray<{ status: string }>).map((r) => r.status), ["completed"])
          yield* child.kill("SIGINT")
          const exit = yield* child.exit
          assert.strictEqual(exit.signal, null, `multirun ${command} ended by itself on SIGINT\n${exit.stderr}`)
        } else {
          const ran = yield* run(bin, args, { cwd: clone, env, timeoutMs: 120_000 })
          expectOk(ran, `multirun ${command}`)
        }
      }
    }), { timeout: 1_200_000 })
})
