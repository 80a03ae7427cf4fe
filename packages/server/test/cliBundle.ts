/**
 * The `multirun` command bundled by esbuild into one ES module (the same code as bin/multirun.js
 * without compiling TypeScript at every start), so that tests can run many commands as
 * processes on a small machine. Written under the package (test-output/, not committed) so the
 * command finds the viewer and node_modules as it does from its sources.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.join(import.meta.dirname, "..")

/** Bundles the command and returns the path of the module to run with node. */
export const bundleCli = async (): Promise<string> => {
  const { build } = await import("esbuild")
  const dir = path.join(root, "test-output")
  fs.mkdirSync(dir, { recursive: true })
  const entry = path.join(dir, `cli-entry-${process.pid}.ts`)
  const outfile = path.join(dir, `multirun-${process.pid}.mjs`)
  fs.writeFileSync(entry, `import { main } from ${JSON.stringify(path.join(root, "src", "Cli.ts"))}\nmain(process.argv)\n`)
  try {
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      external: ["better-sqlite3", "pg-native", "esbuild"],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: "warning"
    })
  } finally {
    fs.rmSync(entry, { force: true })
  }
  process.on("exit", () => fs.rmSync(outfile, { force: true }))
  return outfile
}
