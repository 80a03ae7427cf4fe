/**
 * Child processes for tests: fixtures bundled into one file, and scoped children whose stdout
 * lines can be awaited (instead of sleeping until they are probably ready).
 *
 * @since 0.1.0
 */
import { Data, Deferred, Effect } from "effect"
import type { Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { tempDir } from "./TempDir.js"

/**
 * Bundles a fixture script (TypeScript, with the workspace packages it imports) into one
 * CommonJS file in a scoped temporary directory, with esbuild, so that a child process starts
 * in well under a second without a TypeScript loader. `external` packages (native addons) are
 * left to `require`.
 *
 * @since 0.1.0
 */
export const bundleFixture = (
  entry: string,
  options: { readonly external?: ReadonlyArray<string> } = {}
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.gen(function*() {
    const outfile = path.join(yield* tempDir("bundle"), `${path.parse(entry).name}.cjs`)
    yield* Effect.promise(async () => {
      const { build } = await import("esbuild")
      await build({
        entryPoints: [entry],
        bundle: true,
        platform: "node",
        format: "cjs",
        outfile,
        external: [...(options.external ?? [])],
        // the workspace packages from their TypeScript sources, not a (possibly stale) dist/
        conditions: ["@multirun/source"],
        logLevel: "warning"
      })
    })
    return outfile
  })

/**
 * Node.js arguments that run TypeScript sources in a child process without a build: the tsx
 * loader (by absolute URL, so any cwd works) and the `@multirun/source` export condition, so
 * that `@multirun/*` imports (the `multirun` bin's own included) resolve to `src/`.
 *
 * @since 0.2.0
 */
export const sourceNodeArgs: ReadonlyArray<string> = [
  "--import",
  pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
  "--conditions=@multirun/source"
]

/**
 * How a child process ended.
 *
 * @since 0.1.0
 */
export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: ReadonlyArray<string>
  readonly stderr: string
}

/**
 * A child ended before printing the line a test waited for.
 *
 * @since 0.1.0
 */
export class ChildExited extends Data.TaggedError("ChildExited")<{ readonly waitedFor: string; readonly exit: ChildExit }> {
  override get message(): string {
    return `the child exited (code ${this.exit.code}, signal ${this.exit.signal}) before printing ${this.waitedFor}; ` +
      `stderr: ${this.exit.stderr.slice(-2_000)}`
  }
}

/**
 * A running child process.
 *
 * @since 0.1.0
 */
export interface Child {
  readonly process: ChildProcess
  /** The first stdout line (from the start) that matches; fails with `ChildExited` if it ends first. */
  readonly line: (match: RegExp | ((line: string) => boolean)) => Effect.Effect<string, ChildExited>
  /** Waits for the child to end. */
  readonly exit: Effect.Effect<ChildExit>
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
}

/**
 * Starts a child process in the scope; closing the scope kills it (SIGKILL) if it still runs
 * and waits for it to end. Unless `env` sets `TMPDIR`, the child's temporary files go to a
 * scoped temporary directory, removed with the scope.
 *
 * @since 0.1.0
 */
export const spawnChild = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string> | undefined; readonly cwd?: string | undefined } = {}
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tmp = yield* tempDir("child")
    const exited = yield* Deferred.make<ChildExit>()
    const stdout: Array<string> = []
    const listeners = new Set<(line: string) => void>()
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(command, args, {
          cwd: options.cwd,
          env: { ...process.env, TMPDIR: tmp, ...options.env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.suspend(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
          return Deferred.await(exited)
        })
    )
    let partial = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n")
      partial = lines.pop()!
      for (const line of lines) {
        stdout.push(line)
        for (const listener of listeners) listener(line)
      }
    })
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (partial !== "") stdout.push(partial)
      partial = ""
      Deferred.unsafeDone(exited, Effect.succeed({ code, signal, stdout, stderr }))
    }
    child.on("close", finish)
    child.on("error", (error) => {
      stderr += String(error)
      finish(null, null)
    })

    const line = (match: RegExp | ((line: string) => boolean)) => {
      const test = typeof match === "function" ? match : (line: string) => match.test(line)
      const found = stdout.find(test)
      if (found !== undefined) return Effect.succeed(found)
      return Effect.raceFirst(
        Effect.async<string>((resume) => {
          const listener = (line: string) => {
            if (test(line)) {
              listeners.delete(listener)
              resume(Effect.succeed(line))
            }
          }
          listeners.add(listener)
          return Effect.sync(() => listeners.delete(listener))
        }),
        Effect.flatMap(Deferred.await(exited), (exit) => {
          const last = exit.stdout.find(test)
          return last === undefined ? Effect.fail(new ChildExited({ waitedFor: String(match), exit })) : Effect.succeed(last)
        })
      )
    }

    return {
      process: child,
      line,
      exit: Deferred.await(exited),
      kill: (signal = "SIGTERM") => Effect.sync(() => void child.kill(signal))
    }
  })
