/**
 * Static checks of every package's manifest (fast; the slow end-to-end check is
 * OutsideInstall.test.ts): public entries match the modules in `src/`, runtime imports are
 * declared, `effect` and the shared `@effect/*` packages are peers on the v3 line, versions agree.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { builtinModules } from "node:module"
import * as path from "node:path"

const repo = path.resolve(import.meta.dirname, "..", "..", "..")
const rootManifest = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8"))
const packageDirs: ReadonlyArray<string> = rootManifest.workspaces.map((dir: string) => path.join(repo, dir))

interface Manifest {
  readonly name: string
  readonly version: string
  readonly exports: Record<string, Record<string, string> | null>
  readonly files: ReadonlyArray<string>
  readonly dependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly bin?: Record<string, string>
}
const manifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))

/** The manifest of an installed package (hoisted to the repository's node_modules). */
const installedManifest = (name: string): Manifest =>
  name.startsWith("@multirun/")
    ? manifest(packageDirs.find((dir) => manifest(dir).name === name)!)
    : JSON.parse(fs.readFileSync(path.join(repo, "node_modules", name, "package.json"), "utf8"))

/** Every `.ts` file under `dir`, recursively. */
const tsFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? tsFiles(path.join(dir, entry.name))
      : entry.name.endsWith(".ts") ? [path.join(dir, entry.name)] : []
  )

/**
 * The package part of every non-relative import/export specifier of a file, type-only ones
 * included (the emitted `.d.ts` imports them too).
 */
const importedPackages = (file: string): Array<string> => {
  const source = fs.readFileSync(file, "utf8")
  const specifiers: Array<string> = []
  const pattern = /^\s*(?:import|export)\s+(?:[^"';]*?\sfrom\s+)?"([^"]+)"|\bimport\("([^"]+)"\)/gm
  for (const match of source.matchAll(pattern)) {
    const specifier = match[1] ?? match[2]
    if (specifier === undefined || specifier.startsWith(".")) continue
    const parts = specifier.split("/")
    specifiers.push(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!)
  }
  return specifiers
}

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
/** The packages that must be one shared copy in a user's project. */
const sharedPeers: Record<string, string> = {
  "effect": "^3.22.0",
  "@effect/platform": "^0.97.0",
  "@effect/sql": "^0.52.0",
  "@effect/ai": "^0.37.0"
}

describe("package manifests", () => {
  it("the workspace packages are found", () => {
    assert.includeMembers(packageDirs.map((dir) => manifest(dir).name), [
      "@multirun/core",
      "@multirun/sql",
      "@multirun/server",
      "@multirun/ai"
    ])
  })

  for (const dir of packageDirs) {
    const pkg = manifest(dir)
    describe(pkg.name, () => {
      it("exports '.' and one entry per public module of src/, each { @multirun/source, types, import }; internal/* is closed", () => {
        const modules = fs.readdirSync(path.join(dir, "src"))
          .filter((file) => file.endsWith(".ts") && file !== "index.ts")
          .map((file) => file.slice(0, -3))
          .sort()
        const expected = [".", ...modules.map((name) => `./${name}`), "./internal/*"]
        assert.deepStrictEqual(Object.keys(pkg.exports).sort(), expected.sort())
        assert.isNull(pkg.exports["./internal/*"])
        for (const [key, target] of Object.entries(pkg.exports)) {
          if (key === "./internal/*") continue
          const name = key === "." ? "index" : key.slice(2)
          assert.deepStrictEqual(target, {
            "@multirun/source": `./src/${name}.ts`,
            "types": `./dist/${name}.d.ts`,
            "import": `./dist/${name}.js`
          }, key)
          // the condition order matters: the source condition first, types before import
          assert.deepStrictEqual(Object.keys(target!), ["@multirun/source", "types", "import"], key)
        }
      })

      it("ships dist, src and the README only (plus the bin of a command and the built viewer)", () => {
        const expected = [
          "dist",
          "!dist/.tsbuildinfo",
          "src",
          "README.md",
          "CHANGELOG.md",
          ...(pkg.bin ? ["bin"] : []),
          ...(pkg.name === "@multirun/server" ? ["viewer/dist"] : [])
        ]
        assert.sameMembers([...pkg.files], expected)
        assert.isTrue(fs.existsSync(path.join(dir, "README.md")), "README.md")
        assert.isTrue(fs.existsSync(path.join(dir, "CHANGELOG.md")), "CHANGELOG.md")
      })

      it("declares every package src/ imports (at run time or in types) as a dependency or peer; shared packages are v3 peers", () => {
        const declared = { ...pkg.dependencies, ...pkg.peerDependencies }
        const imported = new Set(tsFiles(path.join(dir, "src")).flatMap(importedPackages).filter((name) => !builtins.has(name)))
        imported.delete(pkg.name)
        for (const name of imported) assert.property(declared, name, `${pkg.name} imports ${name}`)
        // a peer src/ does not import may be declared when a package it imports needs it as a
        // peer too (`@effect/ai` needs `@effect/platform`): the user's project shares that copy
        const peersOfImported = new Set([...imported].flatMap((name) => Object.keys(installedManifest(name).peerDependencies ?? {})))
        for (const name of Object.keys(declared)) {
          if (name.startsWith("@multirun/")) continue
          assert.isTrue(
            imported.has(name) || (name in (pkg.peerDependencies ?? {}) && peersOfImported.has(name)),
            `${pkg.name} declares ${name} but src/ never imports it`
          )
        }
        for (const [name, range] of Object.entries(sharedPeers)) {
          if (!imported.has(name) && !(name in declared)) continue
          assert.strictEqual(pkg.peerDependencies?.[name], range, `${name} is a peer dependency of ${pkg.name}`)
          assert.notProperty(pkg.dependencies ?? {}, name, `${name} is not also a dependency of ${pkg.name}`)
          assert.property(rootManifest.devDependencies, name, `${name} is a devDependency of the repository`)
        }
      })

      it("has the repository's version, and depends on the other packages at that version", () => {
        assert.strictEqual(pkg.version, manifest(packageDirs[0]!).version)
        for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies })) {
          if (name.startsWith("@multirun/")) assert.strictEqual(range, `^${pkg.version}`, name)
        }
      })
    })
  }

  it("the server and its OpenAPI document report the package version", async () => {
    const { version } = await import("../src/Server.js")
    const { Api } = await import("@multirun/core/Api")
    const { OpenApi } = await import("@effect/platform")
    assert.strictEqual(version, manifest(path.join(repo, "packages", "server")).version)
    assert.strictEqual(OpenApi.fromApi(Api).info.version, version)
  })
})
