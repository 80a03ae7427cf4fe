import { assert, describe, it } from "@effect/vitest"
import { sourceNodeArgs, spawnChild, tempDir } from "@multirun/core/test-utils"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "../src/Cli.js"
import { bundleCli } from "./cliBundle.js"
import { getWithHost, request } from "./TestServer.js"

// the `multirun` command on the TypeScript sources (no build needed)
const bin = [...sourceNodeArgs, path.join(import.meta.dirname, "..", "bin", "multirun.js")]

/** Runs the command line (node with `nodeArgs`) to its end, its output piped. */
const runNode = (nodeArgs: ReadonlyArray<string>, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  Effect.scoped(Effect.flatMap(spawnChild(process.execPath, [...nodeArgs, ...args], { cwd, env }), (child) => child.exit)).pipe(
    Effect.map((exit) => ({ code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr }))
  )

/** Runs the command line on the sources to its end. */
const runCli = (args: ReadonlyArray<string>, cwd: string) => runNode(bin, args, cwd)

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

/** Runs the bundled command to its end, its output piped. */
const runBundle = (bundle: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  runNode([bundle], args, cwd, env)

/** What the command line prints for `args`, run in this process; its exit code when it sets one. */
const helpOf = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let stdout = ""
    let stderr = ""
    const before = process.exitCode
    yield* Console.consoleWith((console) =>
      Cli.run(["node", "multirun", ...args]).pipe(
        Effect.provide(NodeContext.layer),
        Effect.withConsole({
          ...console,
          log: (...parts) => Effect.sync(() => void (stdout += `${parts.join(" ")}\n`)),
          error: (...parts) => Effect.sync(() => void (stderr += `${parts.join(" ")}\n`))
        })
      )
    )
    const exitCode = process.exitCode
    process.exitCode = before
    return { stdout, stderr, exitCode }
  })

/** The names under `Commands:` in a help text. */
const commandsOf = (help: string): Array<string> => {
  const section = /\nCommands:\n((?: {2}.*\n?)*)/.exec(help)?.[1] ?? ""
  return section.split("\n").filter((line) => line.trim() !== "").map((line) => line.trim().split(/\s+/)[0]!)
}

describe("multirun command line: help and errors", () => {
  it.scopedLive("an argument error is two plain lines and exit code 2; a missing file names only the command's options", () =>
    Effect.gen(function*() {
      const cwd = yield* tempDir("cli-errors")
      const bin = yield* bundleCli
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["runs", "list", "--limit", "abc"], "multirun runs list: --limit: 'abc' is not an integer"],
        [["keys", "create"], "multirun keys create: missing option --project"],
        [["runs", "show"], "multirun runs show: missing argument <RUN_ID>"],
        [["runs", "lst"], "multirun runs: unknown command 'lst' (commands: list, show, diff)"],
        [["runs", "diff", "A"], "multirun runs diff: missing argument <B>"],
        [["runs", "list", "--dbb", "x"], "multirun runs list: unknown argument '--dbb'"],
        [["gc", "--status", "nope"], "multirun gc: expected one of the following cases: completed, failed, interrupted, stalled"]
      ]
      const results = yield* Effect.forEach(cases, ([args]) => runBundle(bin, args, cwd), { concurrency: 2 })
      cases.forEach(([args, line], i) => {
        const command = line.slice(0, line.indexOf(":"))
        assert.deepStrictEqual(
          results[i],
          { code: 2, stdout: "", stderr: `${line}\nRun "${command} --help" for usage.\n` },
          args.join(" ")
        )
      })
      const absent = path.join(cwd, "absent.db")
      const ui = yield* runBundle(bin, ["ui", "--db", absent], cwd)
      assert.deepStrictEqual(ui, {
        code: 1,
        stdout: "",
        stderr: `multirun: no database at ${absent} (give --db FILE, the SQLite file your program writes)\n`
      })
    }), { timeout: 120_000 })

  it.scopedLive("every command's --help is short, shows an example, and has no escapes when piped or under NO_COLOR", () =>
    Effect.gen(function*() {
      // every command's help, in this process (one process per command would take minutes)
      const helps = new Map<string, string>()
      let next: Array<ReadonlyArray<string>> = [[]]
      while (next.length > 0) {
        const found = yield* Effect.forEach(next, (path) => helpOf([...path, "--help"]))
        const children: Array<ReadonlyArray<string>> = []
        next.forEach((path, i) => {
          const help = found[i]!
          assert.deepStrictEqual([help.exitCode, help.stderr], [undefined, ""], path.join(" "))
          helps.set(["multirun", ...path].join(" "), help.stdout)
          children.push(...commandsOf(help.stdout).map((name) => [...path, name]))
        })
        next = children
      }
      assert.isAbove(helps.size, 15)
      for (const [command, help] of helps) {
        assert.isTrue(help.startsWith(`Usage: ${command}`), help)
        assert.match(help, new RegExp(`\nExamples:\n {2}${command}( |\n|$)`), command)
        assert.isAtMost(help.split("\n").length, 30, command)
        assert.notInclude(help, "\x1b", command)
      }
      // the command itself, piped
      const cwd = yield* tempDir("cli-help")
      const bin = yield* bundleCli
      const piped = yield* runBundle(bin, ["runs", "list", "--help"], cwd)
      assert.deepStrictEqual(piped, { code: 0, stdout: helps.get("multirun runs list")!.trimEnd(), stderr: "" })
      // on a terminal (a pseudo-terminal from util-linux's script) headings are bold, unless NO_COLOR is set
      if (process.platform === "linux") {
        const onTerminal = (env: NodeJS.ProcessEnv) =>
          spawnSync("script", ["-qec", `"${process.execPath}" "${bin}" keys --help`, "/dev/null"], { cwd, env, encoding: "utf8" })
            .stdout
        const { NO_COLOR: _, ...withoutNoColor } = process.env
        assert.include(onTerminal(withoutNoColor), "\x1b[1mUsage:\x1b[0m")
        assert.notInclude(onTerminal({ ...withoutNoColor, NO_COLOR: "1" }), "\x1b")
      }
      const noColor = yield* runBundle(bin, ["runs", "list", "--limit", "x"], cwd, { NO_COLOR: "1" })
      assert.notInclude(noColor.stderr, "\x1b")
    }), { timeout: 240_000 })
})
