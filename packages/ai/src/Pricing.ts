/**
 * Prices of model tokens, and the cost of a model call from its usage.
 *
 * Costs are computed in integer pico-dollars (a price per million tokens is an integer number of
 * pico-dollars per token down to 10⁻⁶ USD per million) and rounded once to integer nano-dollars,
 * so the cost of a call never carries float drift and sums of costs stay exact.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, Option, ParseResult, Schema } from "effect"
import { defaultPrices } from "./internal/defaultPrices.js"

const UsdPerMillion = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

/**
 * The price of one model in USD per million tokens. `cachedInput` defaults to `input`.
 * `inputIncludesCached` (default `true`) says whether the provider counts cached input tokens
 * inside its input tokens (OpenAI, Google) or apart from them (Anthropic).
 *
 * @since 0.2.0
 */
export const ModelPrice = Schema.Struct({
  input: UsdPerMillion,
  output: UsdPerMillion,
  cachedInput: Schema.optional(UsdPerMillion),
  inputIncludesCached: Schema.optional(Schema.Boolean)
})

/** @since 0.2.0 */
export type ModelPrice = typeof ModelPrice.Type

/**
 * A dated price table: model id → price, with the date the prices were taken and where from.
 *
 * @since 0.2.0
 */
export const PriceTable = Schema.Struct({
  date: Schema.String,
  source: Schema.String,
  models: Schema.Record({ key: Schema.String, value: ModelPrice })
})

/** @since 0.2.0 */
export type PriceTable = typeof PriceTable.Type

/**
 * The table shipped with this package (see its `date` and `source`).
 *
 * @since 0.2.0
 */
export const defaultTable: PriceTable = defaultPrices

/**
 * Token counts of one call, as an @effect/ai `Response.Usage` reports them.
 *
 * @since 0.2.0
 */
export interface TokenCounts {
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly cachedInputTokens?: number | undefined
}

/**
 * A price table that does not decode: a negative or non-finite price, a missing field.
 *
 * @since 0.2.0
 */
export class PricingError extends Schema.TaggedError<PricingError>("@multirun/ai/PricingError")("PricingError", {
  detail: Schema.String
}) {
  override get message(): string {
    return `invalid price table: ${this.detail}`
  }
}

const picoPerToken = (usdPerMillion: number): bigint => BigInt(Math.round(usdPerMillion * 1_000_000))

const count = (tokens: number | undefined): bigint =>
  tokens === undefined || !Number.isFinite(tokens) || tokens <= 0 ? 0n : BigInt(Math.round(tokens))

/**
 * The cost of a call in integer nano-dollars (rounded half up once, from exact pico-dollars).
 *
 * @since 0.2.0
 */
export const costNanos = (price: ModelPrice, usage: TokenCounts): bigint => {
  const input = count(usage.inputTokens)
  const cached = count(usage.cachedInputTokens)
  const output = count(usage.outputTokens)
  const uncached = price.inputIncludesCached === false ? input : input > cached ? input - cached : 0n
  const pico = uncached * picoPerToken(price.input) +
    cached * picoPerToken(price.cachedInput ?? price.input) +
    output * picoPerToken(price.output)
  return (pico + 500n) / 1000n
}

/**
 * The cost of a call in USD (an exact number of nano-dollars).
 *
 * @since 0.2.0
 */
export const costUsd = (price: ModelPrice, usage: TokenCounts): number => Number(costNanos(price, usage)) / 1e9

/**
 * The price of a model id in a table: the exact id, or else the longest id of the table that the
 * model id extends with a dated or versioned suffix (`gpt-4o-2024-08-06` → `gpt-4o`,
 * `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`, `claude-3-5-sonnet@20240620`). A
 * `models/` prefix (Google) is ignored.
 *
 * @since 0.2.0
 */
export const lookup = (table: PriceTable, model: string): Option.Option<ModelPrice> => {
  const id = model.startsWith("models/") ? model.slice("models/".length) : model
  const exact = table.models[id]
  if (exact !== undefined) return Option.some(exact)
  let best: string | undefined
  for (const key of Object.keys(table.models)) {
    if ((id.startsWith(`${key}-`) || id.startsWith(`${key}@`)) && (best === undefined || key.length > best.length)) {
      best = key
    }
  }
  return best === undefined ? Option.none() : Option.some(table.models[best]!)
}

/**
 * Prices model calls.
 *
 * - `price(model)`: the model's price, if the table knows it.
 * - `cost(model, usage)`: the cost in USD, or `null` when the model (or its id) is unknown;
 *   an unknown model id logs one warning, once per id.
 *
 * @since 0.2.0
 */
export interface PricingService {
  readonly table: PriceTable
  readonly price: (model: string) => Option.Option<ModelPrice>
  readonly cost: (model: string | undefined, usage: TokenCounts) => Effect.Effect<number | null>
}

/**
 * The pricing tag.
 *
 * @since 0.2.0
 */
export class Pricing extends Context.Tag("@multirun/ai/Pricing")<Pricing, PricingService>() {
  /** The shipped table, see {@link layerDefault}. */
  static readonly layerDefault: Layer.Layer<Pricing> = Layer.effect(Pricing, Effect.suspend(() => make(defaultTable)))
  /** A table of your own, see {@link layer}. */
  static readonly layer = (table: PriceTable): Layer.Layer<Pricing, PricingError> => layer(table)
}

/**
 * A pricing service over a table (trusted as given; `layer` validates it).
 *
 * @since 0.2.0
 */
export const make = (table: PriceTable): Effect.Effect<PricingService> =>
  Effect.sync(() => {
    const warned = new Set<string>()
    const cache = new Map<string, Option.Option<ModelPrice>>()
    const price = (model: string): Option.Option<ModelPrice> => {
      let found = cache.get(model)
      if (found === undefined) {
        found = lookup(table, model)
        cache.set(model, found)
      }
      return found
    }
    const cost = (model: string | undefined, usage: TokenCounts): Effect.Effect<number | null> =>
      Effect.suspend(() => {
        const found = model === undefined ? Option.none() : price(model)
        if (Option.isSome(found)) return Effect.succeed(costUsd(found.value, usage))
        const key = model ?? ""
        if (warned.has(key)) return Effect.succeed(null)
        warned.add(key)
        const what = model === undefined ? "a model call that names no model" : `model "${model}"`
        return Effect.as(
          Effect.logWarning(
            `multirun: no price for ${what} in the price table of ${table.date}; its cost is recorded as unknown. ` +
              "Add it with `Pricing.layer(table)`."
          ),
          null
        )
      })
    return { table, price, cost }
  })

/**
 * Pricing from a table of your own, validated (negative or non-finite prices fail with
 * `PricingError`). Spread `Pricing.defaultTable.models` into it to extend the shipped table.
 *
 * @since 0.2.0
 */
export const layer = (table: PriceTable): Layer.Layer<Pricing, PricingError> =>
  Layer.effect(
    Pricing,
    Schema.decodeUnknown(PriceTable)(table).pipe(
      Effect.mapError((error) => new PricingError({ detail: ParseResult.TreeFormatter.formatErrorSync(error) })),
      Effect.flatMap(make)
    )
  )

/**
 * The shipped table (`defaultTable`, dated).
 *
 * @since 0.2.0
 */
export const layerDefault: Layer.Layer<Pricing> = Pricing.layerDefault
