import { assert, describe, it } from "@effect/vitest"
import { Chunk, Data, DateTime, Either, HashMap, HashSet, List, Option, Redacted, Schema } from "effect"
import { canonicalJson, firstDifference, sha256 } from "../src/internal/canonical.js"

describe("canonical JSON", () => {
  it("sorts keys at every depth and keeps array order", () => {
    assert.strictEqual(canonicalJson({ b: [3, { z: 1, a: 2 }], a: "é\n" }, "input"), "{\"a\":\"é\\n\",\"b\":[3,{\"a\":2,\"z\":1}]}")
    assert.strictEqual(sha256(canonicalJson({ x: 1, y: 2 }, "i") as string), sha256(canonicalJson({ y: 2, x: 1 }, "i") as string))
  })

  it("names the path and kind of the first non-JSON value", () => {
    const error = canonicalJson({ list: [1, { "odd key": () => 1 }] }, "input")
    assert.strictEqual(typeof error === "string" ? error : [error.path, error.found].join(" "), "input.list[1][\"odd key\"] function")
    const symbol = canonicalJson({ s: Symbol("s"), u: undefined }, "input")
    assert.strictEqual(typeof symbol === "string" ? symbol : [symbol.path, symbol.found].join(" "), "input.s symbol")
    const top = canonicalJson(undefined, "input")
    assert.strictEqual(typeof top === "string" ? top : top.found, "undefined")
    const map = canonicalJson(new Map(), "output")
    assert.strictEqual(typeof map === "string" ? map : map.found, "class Map")
    const infinity = canonicalJson({ n: Infinity }, "x")
    assert.strictEqual(typeof infinity === "string" ? infinity : infinity.message.split(" (")[0], "x.n is not JSON")
  })

  it("leaves undefined properties out and writes undefined elements as null, as JSON.stringify does", () => {
    const hash = (value: unknown) => sha256(canonicalJson(value, "input") as string)
    assert.strictEqual(canonicalJson({ text: "hi", toolCalls: undefined }, "output"), "{\"text\":\"hi\"}")
    assert.strictEqual(hash({ b: undefined, a: 1 }), hash({ a: 1 }))
    assert.strictEqual(hash({ only: undefined }), hash({}))
    assert.strictEqual(canonicalJson([1, undefined, , 2], "input"), "[1,null,null,2]")
    assert.strictEqual(canonicalJson({ deep: [{ x: undefined, y: [undefined] }] }, "input"), "{\"deep\":[{\"y\":[null]}]}")
    // past the fast writer's depth, the careful writer follows the same rules
    let deep: unknown = { x: undefined, y: [undefined] }
    for (let i = 0; i < 70; i++) deep = { a: deep, b: undefined }
    assert.strictEqual(canonicalJson(deep, "input"), "{\"a\":".repeat(70) + "{\"y\":[null]}" + "}".repeat(70))
  })

  it("names Effect data types and Schema classes, and the schema that encodes them", () => {
    class Point extends Schema.Class<Point>("Point")({ x: Schema.Number }) {}
    class Pair extends Data.Class<{ readonly a: number }> {}
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [Chunk.make(1), "Chunk", "Schema.Chunk("],
      [HashMap.make(["k", 1]), "HashMap", "Schema.HashMap("],
      [HashSet.make(1), "HashSet", "Schema.HashSet("],
      [List.make(1), "List", "Schema.List("],
      [Option.some(1), "Option", "Schema.Option("],
      [Either.right(1), "Either", "Schema.Either("],
      [DateTime.unsafeMake(0), "DateTime", "Schema.DateTimeUtc"],
      [new Point({ x: 1 }), "class Point", "`Point` itself"],
      [new Pair({ a: 1 }), "Data class Pair", "Schema.Class"],
      [Data.struct({ a: 1 }), "Data value", "Schema.Class"],
      [new Map(), "class Map", "Schema.ReadonlyMap("],
      [new Date(0), "Date", "Schema.Date"],
      [1n, "bigint", "Schema.BigInt"]
    ]
    for (const [value, found, schema] of cases) {
      const error = canonicalJson({ value }, "output")
      assert.notStrictEqual(typeof error, "string", found)
      if (typeof error === "string") continue
      assert.deepStrictEqual([error.path, error.found], ["output.value", found])
      assert.include(error.message, schema)
      assert.include(error.message, "the step's `output` schema")
    }
    const input = canonicalJson([Chunk.empty()], "input")
    assert.include(typeof input === "string" ? input : input.message, "encode it with `Schema.Chunk(itemSchema)` as the step's `inputSchema`")
    const state = canonicalJson(Option.none(), "run.state.plan")
    assert.include(typeof state === "string" ? state : state.message, "`StateKey.make(key, schema)`")
    const secret = canonicalJson(Redacted.make("key"), "input")
    assert.deepStrictEqual(typeof secret === "string" ? secret : [secret.found, secret.detail], ["Redacted", undefined])
  })

  it("allows shared, non-cyclic references", () => {
    const shared = { v: 1 }
    assert.strictEqual(canonicalJson([shared, shared], "i"), "[{\"v\":1},{\"v\":1}]")
  })

  it("writes what a plain sorted-key writer writes, whatever the keys and nesting", () => {
    // the reference: keys sorted by code units, JSON.stringify for every leaf; as JSON, an
    // undefined property is left out and an undefined element is null
    const reference = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map((item) => item === undefined ? "null" : reference(item)).join(",")}]`
        : typeof value === "object" && value !== null
        ? `{${
          Object.keys(value).sort().filter((key) => (value as Record<string, unknown>)[key] !== undefined)
            .map((key) => `${JSON.stringify(key)}:${reference((value as Record<string, unknown>)[key])}`)
            .join(",")
        }}`
        : JSON.stringify(value)
    const keys = ["a", "b", "Z", "10", "9", "0", "__proto__", "é", "\u001f", "k\"q", "", "constructor", "toJSON"]
    let seed = 7
    let undefinedMade = 0
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n
    const make = (depth: number): unknown => {
      switch (depth > 3 ? random(5) : random(7)) {
        case 4:
          undefinedMade++
          return undefined
        case 0:
          return random(1000) - 500 + (random(2) === 0 ? 0.25 : 0)
        case 1:
          return keys[random(keys.length)]!
        case 2:
          return random(2) === 0 ? null : random(2) === 0
        case 3:
          return -0
        case 5:
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
      if (value === undefined) continue
      const text = canonicalJson(value, "input")
      assert.strictEqual(text, reference(value))
      // the same text, so the same hash, as the value after a JSON round trip dropped its undefined
      assert.strictEqual(text, canonicalJson(JSON.parse(JSON.stringify(value)), "input"))
    }
    assert.isAbove(undefinedMade, 200, "the values hold undefined properties and elements")
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
