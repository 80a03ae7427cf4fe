/**
 * Which viewer bundle is served: an installed package (no `viewer/src`) serves `viewer/dist` as
 * shipped even when npm wrote its sources later, and says so, typed, when the bundle is missing; a
 * checkout bundles again when a source is newer than `viewer/dist`. Over package layouts copied
 * into temporary directories (the checkout's sources are this package's own).
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDir } from "@multirun/core/test-utils"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { load, packageRoot } from "../src/internal/viewerBundle.js"

const here = packageRoot()
const shipped = { "viewer.js": "// shipped js", "viewer.css": "/* shipped css */", "index.html": "<!doctype html>", "favicon.svg": "<svg/>" }

/** Writes `files` (relative path → text) under `root`, each with modification time `at`. */
const write = (root: string, files: Record<string, string>, at: Date) => {
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(root, name)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, text)
    fs.utimesSync(file, at, at)
  }
}

const dist = Object.fromEntries(Object.entries(shipped).map(([name, text]) => [`viewer/dist/${name}`, text]))
const earlier = new Date("2026-01-01T00:00:00Z")
const later = new Date("2026-01-02T00:00:00Z")

describe("viewer bundle", () => {
  it.scoped("an installed package serves viewer/dist as shipped, though npm wrote the sources after it", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("installed")
      write(root, dist, earlier)
      write(root, { "src/internal/format.ts": "export {}", "src/internal/runModel.ts": "export {}" }, later)
      const assets = yield* load(root)
      assert.deepStrictEqual(assets, { js: shipped["viewer.js"], css: shipped["viewer.css"], html: shipped["index.html"], favicon: shipped["favicon.svg"] })
    }))

  it.scoped("an installed package without its bundle fails with ViewerNotBuilt naming the missing file", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("installed")
      write(root, { ...dist, "viewer/dist/viewer.js": "" }, earlier)
      fs.rmSync(path.join(root, "viewer", "dist", "viewer.js"))
      const error = yield* Effect.flip(load(root))
      assert.strictEqual(error._tag, "ViewerNotBuilt")
      assert.include(error.reason, path.join("viewer", "dist", "viewer.js"))
      assert.strictEqual(error.hint, "Reinstall @multirun/server.")
    }))

  it.scoped("a checkout bundles its sources again when one is newer than viewer/dist", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("checkout")
      fs.cpSync(path.join(here, "viewer"), path.join(root, "viewer"), { recursive: true, filter: (src) => !src.includes(`${path.sep}dist`) })
      fs.cpSync(path.join(here, "src"), path.join(root, "src"), { recursive: true })
      // the viewer's sources import preact from this repository's node_modules
      fs.symlinkSync(path.join(here, "..", "..", "node_modules"), path.join(root, "node_modules"))
      write(root, dist, earlier)
      const rebuilt = yield* load(root)
      assert.notStrictEqual(rebuilt.js, shipped["viewer.js"])
      assert.include(rebuilt.html, "viewer.js")
      // and serves viewer/dist while it is the newest
      write(root, dist, new Date())
      assert.strictEqual((yield* load(root)).js, shipped["viewer.js"])
    }), 60_000)
})
