/**
 * Vitest global setup of every package (see `vitest.shared.ts`): gives this test run its own
 * parent directory for temporary files and checks, when the run ends, that the tests removed
 * everything they made there.
 *
 * The directory is `<system temp>/multirun-test-run-XXXXXX`; `MULTIRUN_TEST_TMPDIR` names it
 * (the `tempDir` helper makes its directories there) and `TMPDIR` points to it, so files made
 * by anything else (child processes, libraries) land there too and are counted. Several runs at
 * once each check only their own directory. The directory is removed in any case.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { runDirVariable, tempPrefix } from "./TempDir.js"

/** Set to the pid of the vitest process whose first project made the directory. */
const ownerVariable = "MULTIRUN_TEST_TMPDIR_OWNER"

/**
 * Makes the run's directory once per vitest process (the first project's setup does it) and
 * returns the teardown that checks and removes it.
 *
 * @since 0.1.0
 */
export default function setup(): (() => void) | undefined {
  if (process.env[ownerVariable] === String(process.pid)) return undefined
  const saved = { dir: process.env[runDirVariable], tmp: process.env.TMPDIR }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tempPrefix}run-`))
  process.env[runDirVariable] = dir
  process.env[ownerVariable] = String(process.pid)
  process.env.TMPDIR = dir
  return () => {
    const restore = (name: string, value: string | undefined) => {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
    restore(runDirVariable, saved.dir)
    restore("TMPDIR", saved.tmp)
    delete process.env[ownerVariable]
    const left = fs.readdirSync(dir)
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    if (left.length > 0) {
      process.exitCode = 1
      const message = `the tests left ${left.length} temporary entries in ${dir} ` +
        `(removed now; make them scoped with tempDir from @multirun/core/test-utils): ${left.sort().join(", ")}`
      console.error(`\n[multirun] ${message}\n`)
      throw new Error(message)
    }
  }
}
