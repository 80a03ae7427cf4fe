/**
 * Each migration is a frozen module of `src/internal/migrations` (`m<id>_<name>.ts`) that carries
 * its own copy of what it writes: it imports nothing but `effect` and `@effect/sql`, so a later
 * change to the live row layout, record encoders or totals cannot change what an old migration
 * does. A module that imports anything else fails this test, which names the file, line and import.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { migrations } from "../src/Migrations.js"

const dir = path.join(import.meta.dirname, "..", "src", "internal", "migrations")

/** The only modules a frozen migration may import. */
const allowed = /^(effect|@effect\/sql)(\/|$)/

/** The imports of `text` (static, re-exports, dynamic, `require`) that are not allowed, as `file:line: import`. */
const liveImports = (file: string, text: string): Array<string> =>
  ts.preProcessFile(text, true, true).importedFiles.flatMap((imported) =>
    allowed.test(imported.fileName)
      ? []
      : [`${file}:${text.slice(0, imported.pos).split("\n").length}: imports "${imported.fileName}"`]
  )

const modules = fs.readdirSync(dir).filter((name) => name.endsWith(".ts")).sort()

describe("frozen migrations", () => {
  it("every migration has its module m<id>_<name>.ts, and the migrations use what those modules export", async () => {
    assert.deepStrictEqual(
      modules,
      Object.keys(migrations).map((key) => `m${key}.ts`).sort(),
      "one module per migration, named after its key"
    )
    for (const [key, migration] of Object.entries(migrations)) {
      const exported: Record<string, unknown> = await import(path.join(dir, `m${key}.js`))
      assert.isTrue(Object.values(exported).includes(migration), `migration ${key} is the one m${key}.ts exports`)
    }
  })

  it("no migration module imports anything but effect and @effect/sql", () => {
    assert.isAtLeast(modules.length, 7)
    const found = modules.flatMap((name) =>
      liveImports(`src/internal/migrations/${name}`, fs.readFileSync(path.join(dir, name), "utf8"))
    )
    assert.deepStrictEqual(found, [])
  })

  it("the check names a live import (so it can fail)", () => {
    const text = `import { Effect } from "effect"\nimport type * as Step from "@multirun/core/Step"\n` +
      `import * as SqlClient from "@effect/sql/SqlClient"\nexport { bindStep } from "../stepRows.js"\n`
    assert.deepStrictEqual(liveImports("m8_example.ts", text), [
      `m8_example.ts:2: imports "@multirun/core/Step"`,
      `m8_example.ts:4: imports "../stepRows.js"`
    ])
  })
})
