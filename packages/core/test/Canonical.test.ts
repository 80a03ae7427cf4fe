import { assert, describe, it } from "@effect/vitest"
import { canonicalJson, firstDifference, sha256 } from "../src/internal/canonical.js"

describe("canonical JSON", () => {
  it("sorts keys at every depth and keeps array order", () => {
    assert.strictEqual(canonicalJson({ b: [3, { z: 1, a: 2 }], a: "é\n" }, "input"), "{\"a\":\"é\\n\",\"b\":[3,{\"a\":2,\"z\":1}]}")
    assert.strictEqual(sha256(canonicalJson({ x: 1, y: 2 }, "i") as string), sha256(canonicalJson({ y: 2, x: 1 }, "i") as string))
  })

  it("names the path and kind of the first non-JSON value", () => {
    const error = canonicalJson({ list: [1, { "odd key": undefined }] }, "input")
    assert.strictEqual(typeof error === "string" ? error : [error.path, error.found].join(" "), "input.list[1][\"odd key\"] undefined")
    const map = canonicalJson(new Map(), "output")
    assert.strictEqual(typeof map === "string" ? map : map.found, "class Map")
    const infinity = canonicalJson({ n: Infinity }, "x")
    assert.strictEqual(typeof infinity === "string" ? infinity : infinity.message.split(" (")[0], "x.n is not JSON")
  })

  it("allows shared, non-cyclic references", () => {
    const shared = { v: 1 }
    assert.strictEqual(canonicalJson([shared, shared], "i"), "[{\"v\":1},{\"v\":1}]")
  })

  it("finds the first difference between two JSON values", () => {
    assert.strictEqual(firstDifference({ a: [1, 2], b: 1 }, { a: [1, 3], b: 2 }, "input"), "input.a[1]")
    assert.strictEqual(firstDifference({ a: 1 }, { a: 1, c: null }, "input"), "input.c")
    assert.strictEqual(firstDifference([1], [1], "input"), undefined)
  })
})
