/**
 * Scoped temporary directories: every directory a test makes is removed when its scope closes,
 * and lives under this test run's own parent directory (see `globalSetup.ts`).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * The prefix of every temporary entry made by the tests, fixtures and benchmarks.
 *
 * @since 0.1.0
 */
export const tempPrefix = "multirun-test-"

/**
 * The environment variable naming this test run's parent directory. The vitest global setup
 * sets it (and `TMPDIR`, so child processes' files land there too) and checks at the end that
 * nothing is left in it.
 *
 * @since 0.1.0
 */
export const runDirVariable = "MULTIRUN_TEST_TMPDIR"

/**
 * Where temporary directories are made: this run's parent directory when the global setup made
 * one, else the system temp directory.
 *
 * @since 0.1.0
 */
export const tempRoot = (): string => process.env[runDirVariable] ?? os.tmpdir()

/**
 * A new empty directory (`multirun-test-<label>-XXXXXX`), removed with everything in it when the
 * scope closes.
 *
 * @since 0.1.0
 */
export const tempDir = (label = "tmp"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(tempRoot(), `${tempPrefix}${label}-`))),
    (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 }))
  )

/**
 * A path for a new file (not created) in a new scoped temporary directory, e.g. a SQLite
 * database: the file, its `-wal`/`-shm` companions and the directory go when the scope closes.
 *
 * @since 0.1.0
 */
export const tempFile = (name = "multirun.db"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.map(tempDir(path.parse(name).name), (dir) => path.join(dir, name))

/**
 * Whether this process may mount a tmpfs (root, with `mount`), for {@link smallDisk}.
 *
 * @since 0.3.0
 */
export const canMount: boolean = (() => {
  try {
    return process.getuid?.() === 0 && execFileSync("sh", ["-c", "command -v mount"]).length > 0
  } catch {
    return false
  }
})()

/**
 * A real full disk: a tmpfs of `size` mounted on a scoped temporary directory, unmounted when the
 * scope closes (needs {@link canMount}). `mount -o remount,size=…` on it makes room again.
 *
 * @since 0.3.0
 */
export const smallDisk = (size: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(tempDir("disk"), (dir) =>
      Effect.sync(() => {
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])
        return dir
      })),
    (dir) => Effect.sync(() => execFileSync("umount", [dir]))
  )
