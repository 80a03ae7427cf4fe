/**
 * `@multirun/sql` is the only place with SQL on multirun's run tables (runs, agents, steps,
 * checkpoints, leases): the other packages' sources (and the viewer's) call its modules. A
 * statement on those tables anywhere else fails this test, which names the file and line.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const packages = path.join(import.meta.dirname, "..", "..")

/** A statement that reads or writes one of the run tables. */
const onRunTables =
  /\b(FROM|INTO|UPDATE|JOIN|TABLE|INDEX\s+\w+\s+ON)\s+multirun_(runs|agents|steps|checkpoints|leases)\b/i

/** Every TypeScript source file below `dir`. */
const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const at = path.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "dist" ? [] : sources(at)
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [at] : []
  })

/** The lines of `files` with a statement on the run tables, as `file:line: text`. */
const statements = (files: ReadonlyArray<string>): Array<string> =>
  files.flatMap((file) =>
    fs.readFileSync(file, "utf8").split("\n").flatMap((line, i) =>
      onRunTables.test(line) ? [`${path.relative(packages, file)}:${i + 1}: ${line.trim()}`] : []
    )
  )

describe("the SQL boundary", () => {
  it("no source outside packages/sql/src has a statement on the run tables", () => {
    const outside = ["core/src", "server/src", "server/viewer/src", "ai/src"]
      .flatMap((dir) => sources(path.join(packages, dir)))
    assert.isAbove(outside.length, 50, "the sources were found")
    assert.deepStrictEqual(statements(outside), [])
  })

  it("the check finds the statements of packages/sql/src (so it can fail)", () => {
    const found = statements(sources(path.join(packages, "sql", "src")))
    assert.isAbove(found.length, 20)
    assert.isTrue(found.some((line) => line.includes("FROM multirun_runs")))
  })
})
