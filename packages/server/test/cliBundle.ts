/**
 * The `multirun` command bundled by esbuild into one ES module (the same code as bin/multirun.js
 * without compiling TypeScript at every start), so that tests can run many commands as
 * processes on a small machine. Bundled once per test run by the server's global setup
 * (cliSetup.ts), which writes it under the package (test-output/, not committed) so the command
 * finds the viewer and node_modules as it does from its sources, and removes it at the end.
 */
import { spawnChild } from "@multirun/core/test-utils"
import { Effect, ExecutionStrategy, Scope } from "effect"
import { inject } from "vitest"

/** The path of the bundled command, to run with node (made by cliSetup.ts, shared by every test file). */
export const bundleCli: Effect.Effect<string> = Effect.sync(() => inject("multirunCli"))

/**
 * `multirun serve --db FILE` as a process a test can kill and start again: the returned effect
 * starts it, each time in its own scope (a child of the caller's, so a failing test still stops
 * it; close it to kill the process) and, after the first time, on the first start's port, so
 * clients keep their URL.
 */
export const restartableServe = (bin: string, db: string) =>
  Effect.map(Effect.scope, (testScope) => {
    let port = 0
    return Effect.gen(function*() {
      const scope = yield* Scope.fork(testScope, ExecutionStrategy.sequential)
      const child = yield* Scope.extend(spawnChild(process.execPath, [bin, "serve", "--db", db, "--port", String(port)]), scope)
      const url = /listening on (http:\/\/\S+)/.exec(yield* child.line(/listening on/))![1]!
      port = Number(new URL(url).port)
      return { child, scope, url }
    })
  })

/** Runs the bundled command `bin` with `args` in `cwd` to its end: exit code, stdout as one text, stderr. */
export const runCli = (bin: string, cwd: string, args: ReadonlyArray<string>) =>
  Effect.flatMap(spawnChild(process.execPath, [bin, ...args], { cwd }), (child) => child.exit).pipe(
    Effect.scoped,
    Effect.timeout("90 seconds"),
    Effect.orDie,
    Effect.map((exit) => ({ code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr }))
  )
