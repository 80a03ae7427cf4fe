/**
 * The README's tour compiles: every fenced ```ts block of README.md (and of each package's
 * README) becomes a module, checked by `tsc` under a strict configuration against the packages'
 * sources (no build needed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "@multirun/core/test-utils"
import { readmes, repoRoot, run, tscPath, toReadmeLines, writeSnippets } from "./readme.js"

const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    customConditions: ["@multirun/source"],
    types: ["node"],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    noEmit: true
  },
  include: ["*.ts"]
}

describe("README.md", () => {
  it("starts with the two commands, and has an Install section for effect v3", () => {
    const top = readme.split("\n").slice(0, 6).join("\n")
    assert.include(top, "npm ci && npm run demo")
    assert.include(top, "npm test")
    assert.include(readme, "## Install")
    assert.include(readme, "npm i @multirun/core @multirun/sql effect@^3.22")
    assert.include(readme, "npm i @multirun/server")
    assert.include(readme, "npm i @multirun/ai @effect/ai")
  })

  it("says how to install before the packages are published, with an Effect 3 range for every other package a block imports", () => {
    const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("\n## ", readme.indexOf("## Install") + 1))
    // from the tarballs `npm pack` writes, until the packages are on the registry
    assert.include(install, "npm pack")
    for (const name of ["core", "sql", "server", "ai"]) assert.match(install, new RegExp(`npm i [^\\n]*multirun-${name}-[\\d.]+\\.tgz`))
    const imported = new Set(
      [...readme.matchAll(/^import .* from "((?:@[^/"]+\/)?[^/"]+)[^"]*"$/gm)].map((match) => match[1]!)
    )
    // the peers npm installs with multirun, and node's own modules, need no line
    const needed = [...imported].filter((name) =>
      !name.startsWith("@multirun/") && !name.startsWith("node:") && !["effect", "@effect/platform", "@effect/sql"].includes(name)
    )
    assert.includeMembers(needed, ["@effect/ai-openai", "@effect/opentelemetry", "@opentelemetry/sdk-trace-base"])
    for (const name of needed) assert.match(install, new RegExp(`npm i [^\\n]*${name}@[\\^~]\\d`), name)
    // the @effect/ai block runs against another endpoint (a stub, a proxy) with apiUrl
    const aiBlock = readme.slice(readme.indexOf("### With @effect/ai"), readme.indexOf("### OpenTelemetry"))
    assert.include(aiBlock, "apiUrl:")
  })

  it.scopedLive("every ```ts block of the READMEs type-checks against the real API", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("readme")
      const found = Object.entries(readmes).flatMap(([prefix, file]) => {
        const written = writeSnippets(fs.readFileSync(path.join(repoRoot, file), "utf8"), dir, prefix)
        assert.isAtLeast(written.length, prefix === "readme" ? 4 : 1, `TypeScript blocks of ${file}`)
        return written
      })
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module", private: true }))
      fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
      // the repository's packages and their dependencies, as an installed project sees them
      fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir")
      const tsc = yield* run(process.execPath, [tscPath, "-p", "tsconfig.json"], { cwd: dir })
      assert.strictEqual(tsc.code, 0, toReadmeLines(tsc.stdout + tsc.stderr, found))
      assert.strictEqual(tsc.stdout, "")
    }), 300_000)
})
