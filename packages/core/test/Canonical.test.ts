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

  it("writes what a plain sorted-key writer writes, whatever the keys and nesting", () => {
    // the reference: keys sorted by code units, JSON.stringify for every leaf
    const reference = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map(reference).join(",")}]`
        : typeof value === "object" && value !== null
        ? `{${
          Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${reference((value as Record<string, unknown>)[key])}`)
            .join(",")
        }}`
        : JSON.stringify(value)
    const keys = ["a", "b", "Z", "10", "9", "0", "__proto__", "é", "\ud800", "k\"q", "", "constructor", "toJSON"]
    let seed = 7
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n
    const make = (depth: number): unknown => {
      switch (depth > 3 ? random(4) : random(6)) {
        case 0:
          return random(1000) - 500 + (random(2) === 0 ? 0.25 : 0)
        case 1:
          return keys[random(keys.length)]!
        case 2:
          return random(2) === 0 ? null : random(2) === 0
        case 3:
          return -0
        case 4:
          return Array.from({ length: random(4) }, () => make(depth + 1))
        default: {
          const out = JSON.parse("{}") as Record<string, unknown>
          for (let i = random(5); i > 0; i--) {
            // defineProperty: `__proto__` becomes an own key, as JSON.parse makes it
            Object.defineProperty(out, keys[random(keys.length)]!, {
              value: make(depth + 1),
              enumerable: true,
              writable: true,
              configurable: true
            })
          }
          return out
        }
      }
    }
    for (let i = 0; i < 2000; i++) {
      const value = make(0)
      assert.strictEqual(canonicalJson(value, "input"), reference(value))
    }
    assert.strictEqual(canonicalJson({ b: { "10": 1, "9": 2 }, a: 1 }, "i"), "{\"a\":1,\"b\":{\"10\":1,\"9\":2}}")
    const withAccessor = Object.defineProperty({}, "x", { get: () => 1, enumerable: true })
    assert.strictEqual(canonicalJson(withAccessor, "i"), "{\"x\":1}")
    const withToJson = canonicalJson({ toJSON: () => "no" }, "i")
    assert.strictEqual(typeof withToJson === "string" ? withToJson : withToJson.path, "i.toJSON")
    const date = canonicalJson({ b: 1, a: [new Date(0)] }, "i")
    assert.strictEqual(typeof date === "string" ? date : `${date.path} ${date.found}`, "i.a[0] Date")
  })

  it("finds the first difference between two JSON values", () => {
    assert.strictEqual(firstDifference({ a: [1, 2], b: 1 }, { a: [1, 3], b: 2 }, "input"), "input.a[1]")
    assert.strictEqual(firstDifference({ a: 1 }, { a: 1, c: null }, "input"), "input.c")
    assert.strictEqual(firstDifference([1], [1], "input"), undefined)
  })
})
