/** Pricing: the shipped table, model id lookup, exact cost arithmetic, overrides, unknown models. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Logger, Option, Schema, TestClock } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Pricing } from "../src/index.js"

/** The packages a module and the modules it imports relatively import, in all. */
const packagesImported = (file: string, seen = new Set<string>()): Set<string> => {
  const found = new Set<string>()
  if (seen.has(file)) return found
  seen.add(file)
  for (const [, specifier] of fs.readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\s+(?:[^"';]*?\sfrom\s+)?"([^"]+)"/gm)) {
    if (specifier!.startsWith(".")) {
      const next = path.resolve(path.dirname(file), specifier!.replace(/\.js$/, ".ts"))
      for (const name of packagesImported(next, seen)) found.add(name)
    } else found.add(specifier!)
  }
  return found
}

const price = (model: string) => Option.getOrThrow(Pricing.lookup(Pricing.defaultTable, model))

describe("Pricing", () => {
  it("imports `effect` alone: `multirun usage --prices` uses it without @effect/ai", () => {
    const imported = packagesImported(path.join(import.meta.dirname, "..", "src", "Pricing.ts"))
    assert.deepStrictEqual([...imported], ["effect"])
  })

  it("the shipped table is dated, sourced and valid; every row names its source and the date it was checked", () => {
    assert.match(Pricing.defaultTable.date, /^\d{4}-\d{2}-\d{2}$/)
    assert.isAbove(Pricing.defaultTable.source.length, 20)
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Pricing.PriceTable)(Pricing.defaultTable)))
    for (const model of ["gpt-4o", "gpt-4.1", "gpt-5", "gpt-5-pro", "claude-sonnet-4-5", "claude-opus-4-1"]) {
      assert.isTrue(Option.isSome(Pricing.lookup(Pricing.defaultTable, model)), model)
    }
    for (const [model, row] of Object.entries(Pricing.defaultTable.models)) {
      assert.match(row.source ?? "", /^https:\/\/(openai\.com|docs\.anthropic\.com)\//, model)
      assert.match(row.checked ?? "", /^\d{4}-\d{2}-\d{2}$/, model)
      assert.isTrue(row.checked! <= Pricing.defaultTable.date, model)
    }
  })

  it("a dated snapshot resolves to its model; any other name is never priced as another model", () => {
    assert.deepStrictEqual(price("gpt-4o-2024-08-06"), price("gpt-4o"))
    assert.deepStrictEqual(price("gpt-4o-mini-2024-07-18"), price("gpt-4o-mini"))
    assert.deepStrictEqual(price("claude-sonnet-4-5-20250929"), price("claude-sonnet-4-5"))
    assert.deepStrictEqual(price("claude-3-5-sonnet-20241022"), price("claude-3-5-sonnet"))
    assert.deepStrictEqual(price("claude-3-5-sonnet@20240620"), price("claude-3-5-sonnet"))
    // its own price, not gpt-5's (12× lower)
    assert.strictEqual(price("gpt-5-pro").output, 120)
    const none = (model: string, table = Pricing.defaultTable) => assert.isTrue(Option.isNone(Pricing.lookup(table, model)), model)
    none("o3-deep-research")
    none("gpt-4o-realtime-preview")
    none("gpt-4o-realtime-preview-2024-12-17")
    none("gpt-4o-mini-search-preview")
    none("claude-opus-4-5-20251101")
    none("claude-3-5-sonnet-latest")
    none("ft:gpt-4o-mini:acme::abc")
    none("gpt-4ox")
    const onlyBase: Pricing.PriceTable = { date: "2026-12-01", source: "test", models: { "gpt-5": { input: 1.25, output: 10 } } }
    none("gpt-5-pro", onlyBase)
    none("gpt-5-mini", onlyBase)
    assert.isTrue(Option.isSome(Pricing.lookup(onlyBase, "gpt-5-2025-08-07")))
    assert.isTrue(Option.isSome(Pricing.lookup({ ...onlyBase, models: { "gemini-2.5-pro": { input: 1, output: 2 } } }, "models/gemini-2.5-pro")))
  })

  it("computes cost in integer nano-dollars", () => {
    const gpt4o = price("gpt-4o")
    // 1,000 uncached × 2.5 + 200 cached × 1.25 + 300 output × 10 = 5,750 USD per million calls
    assert.strictEqual(Pricing.costNanos(gpt4o, { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300 }), 5_750_000n)
    assert.strictEqual(Pricing.costUsd(gpt4o, { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300 }), 0.00575)
    // counts in core's meaning for every provider: 1,000 uncached × $3 + 200 cached × $0.30 + 300 × $15
    const sonnet = price("claude-sonnet-4-5")
    assert.strictEqual(Pricing.costNanos(sonnet, { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300 }), 7_560_000n)
    // no cached price: cached tokens cost the input price
    assert.strictEqual(Pricing.costNanos({ input: 10, output: 30 }, { inputTokens: 100, cachedInputTokens: 40, outputTokens: 0 }), 1_000_000n)
    // a fraction of a nano-dollar rounds half up, once
    assert.strictEqual(Pricing.costNanos(price("gpt-5-nano"), { outputTokens: 1 }), 400n)
    assert.strictEqual(Pricing.costNanos({ input: 0.0005, output: 0 }, { inputTokens: 1 }), 1n)
    assert.strictEqual(Pricing.costNanos({ input: 0.0004, output: 0 }, { inputTokens: 1 }), 0n)
  })

  it("sums of costs carry no float drift when added as nano-dollars", () => {
    const mini = price("gpt-4o-mini")
    let nanos = 0n
    for (let i = 0; i < 1000; i++) nanos += Pricing.costNanos(mini, { inputTokens: 333, outputTokens: 77 })
    // 333 × 0.15 + 77 × 0.6 = 96.15 USD per million → 96,150 nano-dollars per call
    assert.strictEqual(nanos, 96_150_000n)
  })

  it.effect("an unknown model costs null and warns once per model id", () =>
    Effect.gen(function*() {
      const pricing = yield* Pricing.Pricing
      assert.isNull(yield* pricing.cost("acme-1", { inputTokens: 10 }))
      assert.isNull(yield* pricing.cost("acme-1", { inputTokens: 10 }))
      assert.isNull(yield* pricing.cost(undefined, { inputTokens: 10 }))
      assert.strictEqual(yield* pricing.cost("gpt-4o", { inputTokens: 1000 }), 0.0025)
    }).pipe(Effect.provide(Pricing.layerDefault)))

  it.effect("layer(table) validates the table", () =>
    Effect.gen(function*() {
      const bad = { date: "2026-01-01", source: "test", models: { m: { input: -1, output: 1 } } }
      const error = yield* Effect.flip(Layer.build(Pricing.layer(bad)).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "PricingError")
      assert.include(error.message, "invalid price table")
      const extended = { ...Pricing.defaultTable, models: { ...Pricing.defaultTable.models, "acme-1": { input: 1, output: 2 } } }
      const cost = yield* Effect.flatMap(Pricing.Pricing, (p) => p.cost("acme-1", { inputTokens: 1_000_000, outputTokens: 1_000_000 })).pipe(
        Effect.provide(Pricing.layer(extended))
      )
      assert.strictEqual(cost, 3)
    }))

  it.effect("a table older than 180 days logs one warning when its layer is built", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const table: Pricing.PriceTable = { date: "2026-01-01", source: "test", models: { "acme-1": { input: 1, output: 2 } } }
      const build = (layer: Layer.Layer<Pricing.Pricing, Pricing.PricingError>, model = "acme-1") =>
        Effect.flatMap(Pricing.Pricing, (p) => p.cost(model, { inputTokens: 10 })).pipe(
          Effect.provide(layer),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
      yield* TestClock.setTime(Date.parse("2026-06-30T00:00:00Z")) // 180 days
      yield* build(Pricing.layer(table))
      assert.deepStrictEqual(warnings, [])
      yield* TestClock.setTime(Date.parse("2026-07-01T00:00:00Z")) // 181 days
      yield* build(Pricing.layer(table))
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], "the price table of 2026-01-01 is 181 days old")
      yield* TestClock.setTime(Date.parse(Pricing.defaultTable.date) + 181 * 86_400_000)
      yield* build(Pricing.layerDefault, "gpt-4o")
      assert.strictEqual(warnings.length, 2)
      assert.include(warnings[1], `the price table of ${Pricing.defaultTable.date} is 181 days old`)
    }))
})
