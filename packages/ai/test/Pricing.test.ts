/** Pricing: the shipped table, model id lookup, exact cost arithmetic, overrides, unknown models. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Schema } from "effect"
import { Pricing } from "../src/index.js"

const price = (model: string) => Option.getOrThrow(Pricing.lookup(Pricing.defaultTable, model))

describe("Pricing", () => {
  it("the shipped table is dated, sourced and valid", () => {
    assert.match(Pricing.defaultTable.date, /^\d{4}-\d{2}-\d{2}$/)
    assert.isAbove(Pricing.defaultTable.source.length, 20)
    assert.isTrue(Either.isRight(Schema.decodeUnknownEither(Pricing.PriceTable)(Pricing.defaultTable)))
    for (const model of ["gpt-4o", "gpt-4.1", "o3", "claude-sonnet-4-5", "claude-opus-4-1", "gemini-2.5-pro", "gemini-2.5-flash"]) {
      assert.isTrue(Option.isSome(Pricing.lookup(Pricing.defaultTable, model)), model)
    }
  })

  it("finds dated and versioned model ids by their longest known prefix", () => {
    assert.deepStrictEqual(price("gpt-4o-2024-08-06"), price("gpt-4o"))
    assert.deepStrictEqual(price("gpt-4o-mini-2024-07-18"), price("gpt-4o-mini"))
    assert.strictEqual(price("gpt-4o-2024-05-13").input, 5)
    assert.deepStrictEqual(price("claude-sonnet-4-5-20250929"), price("claude-sonnet-4-5"))
    assert.deepStrictEqual(price("claude-3-5-sonnet@20240620"), price("claude-3-5-sonnet"))
    assert.deepStrictEqual(price("models/gemini-2.5-flash"), price("gemini-2.5-flash"))
    assert.isTrue(Option.isNone(Pricing.lookup(Pricing.defaultTable, "ft:gpt-4o-mini:acme::abc")))
    assert.isTrue(Option.isNone(Pricing.lookup(Pricing.defaultTable, "gpt-4ox")))
  })

  it("computes cost in integer nano-dollars", () => {
    const gpt4o = price("gpt-4o")
    // 1,000 uncached × 2.5 + 200 cached × 1.25 + 300 output × 10 = 5,750 USD per million calls
    assert.strictEqual(Pricing.costNanos(gpt4o, { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300 }), 5_750_000n)
    assert.strictEqual(Pricing.costUsd(gpt4o, { inputTokens: 1200, cachedInputTokens: 200, outputTokens: 300 }), 0.00575)
    // Anthropic reports cache reads apart from input tokens
    const sonnet = price("claude-sonnet-4-5")
    assert.strictEqual(Pricing.costNanos(sonnet, { inputTokens: 1000, cachedInputTokens: 200, outputTokens: 300 }), 7_560_000n)
    // no cached price: cached tokens cost the input price
    assert.strictEqual(Pricing.costNanos(price("gpt-4-turbo"), { inputTokens: 100, cachedInputTokens: 40, outputTokens: 0 }), 1_000_000n)
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
})
