/**
 * The `Option` trap: `assert.deepStrictEqual` passes for `Option.none()` against `Option.some(1)`,
 * so an assertion written that way cannot fail. Tests compare options with `assertSome` and
 * `assertNone` (test-utils); this file shows the trap and keeps it out of every test source.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { assertNone, assertSome } from "./utils/Options.js"

const packages = path.resolve(import.meta.dirname, "..", "..")

/** Every TypeScript file under the packages' `test` folders. */
const testSources = (): Array<string> =>
  fs.readdirSync(packages).flatMap((name) => {
    const dir = path.join(packages, name, "test")
    if (!fs.existsSync(dir)) return []
    return (fs.readdirSync(dir, { recursive: true }) as Array<string>)
      .filter((file) => file.endsWith(".ts"))
      .map((file) => path.join(dir, file))
  })

describe("the Option trap", () => {
  it("deepStrictEqual does not tell None from Some (if this fails, the trap is gone upstream)", () => {
    assert.doesNotThrow(() => assert.deepStrictEqual(Option.none(), Option.some(1)))
  })

  it("assertSome and assertNone do", () => {
    assert.throws(() => assertSome(Option.none(), 1))
    assert.throws(() => assertSome(Option.some(2), 1))
    assert.throws(() => assertNone(Option.some(1)))
    assertSome(Option.some({ a: [1] }), { a: [1] })
    assertNone(Option.none())
  })

  it("no test compares an Option with deepStrictEqual", () => {
    const offending = testSources().flatMap((file) =>
      fs.readFileSync(file, "utf8").split("\n").flatMap((line, i) =>
        /deepStrictEqual\(.*Option\.(some|none)\(/.test(line) && !line.includes("doesNotThrow")
          ? [`${path.relative(packages, file)}:${i + 1}`]
          : []
      )
    )
    assert.isAbove(testSources().length, 50)
    assert.deepStrictEqual(offending, [], "use assertSome / assertNone from test-utils")
  })
})
