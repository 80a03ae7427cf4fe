/**
 * Vitest global setup of the server's tests (see `vitest.config.ts`): bundles the `multirun`
 * command once per test run, for every test file that runs it as a process (`bundleCli` in
 * cliBundle.ts reads its path), and removes the bundle when the run ends.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** The path of the bundled `multirun` command. */
    readonly multirunCli: string
  }
}

const root = path.join(import.meta.dirname, "..")

/** Bundles the command from the sources and provides its path; returns the teardown that removes it. */
export default async function setup(project: TestProject): Promise<() => void> {
  const { build } = await import("esbuild")
  const dir = path.join(root, "test-output")
  fs.mkdirSync(dir, { recursive: true })
  const outfile = path.join(dir, `multirun-${process.pid}-${randomBytes(4).toString("hex")}.mjs`)
  await build({
    stdin: {
      contents: `import { main } from "./src/Cli.ts"\nmain(process.argv)\n`,
      resolveDir: root,
      sourcefile: "cli-entry.ts",
      loader: "ts"
    },
    bundle: true,
    platform: "node",
    conditions: ["@multirun/source"],
    format: "esm",
    target: "node20",
    outfile,
    external: ["better-sqlite3", "pg-native", "esbuild"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning"
  })
  project.provide("multirunCli", outfile)
  return () => fs.rmSync(outfile, { force: true })
}
