/**
 * Prices of model tokens, and the cost of a model call from its usage.
 *
 * Costs are computed in integer pico-dollars (a price per million tokens is an integer number of
 * pico-dollars per token down to 10⁻⁶ USD per million) and rounded once to integer nano-dollars,
 * so the cost of a call never carries float drift and sums of costs stay exact.
 *
 * This module imports `effect` alone (not `@effect/ai`, an optional peer of this package needed
 * only by the tracked model and toolkit): `multirun usage --prices FILE` of @multirun/server
 * re-prices stored model calls with {@link PriceTable}, {@link lookup} and {@link costNanos}.
 *
 * @since 0.2.0
 */
import { Clock, Context, Effect, Layer, Option, ParseResult, Schema } from "effect"
import { defaultPrices } from "./internal/defaultPrices.js"

const UsdPerMillion = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

/**
 * The price of one model in USD per million tokens. `cachedInput` defaults to `input`. Token
 * counts are priced in core's meaning: cached input tokens are a part of the input tokens (the
 * tracked model maps each provider's usage to it). `source` (the provider's pricing page) and
 * `checked` (the date it was checked, `YYYY-MM-DD`) say where the row comes from.
 *
 * @since 0.2.0
 */
export const ModelPrice = Schema.Struct({
  input: UsdPerMillion,
  output: UsdPerMillion,
  cachedInput: Schema.optional(UsdPerMillion),
  /** @since 0.3.0 */
  source: Schema.optional(Schema.String),
  /** @since 0.3.0 */
  checked: Schema.optional(Schema.String)
})

/** @since 0.2.0 */
export type ModelPrice = typeof ModelPrice.Type

/**
 * A dated price table: model id → price, with the date the prices were taken (`YYYY-MM-DD`) and
 * where from.
 *
 * @since 0.2.0
 */
export const PriceTable = Schema.Struct({
  date: Schema.String.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}$/)),
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
 * Token counts of one call: cached input tokens are a part of the input tokens.
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
  const uncached = input > cached ? input - cached : 0n
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

/** A date snapshot suffix: `-2024-08-06`, `-20241022` or `@20240620`. */
const snapshotSuffix = /(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$/

/**
 * The price of a model id in a table: the exact id, or else, for a dated snapshot of a model
 * (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`, `claude-3-5-sonnet@20240620`), the entry of
 * the model without its date. Any other name is its own product and is never priced as another
 * (`gpt-5-pro` is not `gpt-5`, `gpt-4o-realtime-preview` not `gpt-4o`). A `models/` prefix
 * (Google) is ignored.
 *
 * @since 0.2.0
 */
export const lookup = (table: PriceTable, model: string): Option.Option<ModelPrice> => {
  const id = model.startsWith("models/") ? model.slice("models/".length) : model
  const exact = table.models[id]
  if (exact !== undefined) return Option.some(exact)
  const base = id.replace(snapshotSuffix, "")
  return base === id ? Option.none() : Option.fromNullable(table.models[base])
}

const dayMillis = 24 * 60 * 60 * 1000

/** After how many days a price table is old enough for a warning. @since 0.3.0 */
export const staleAfterDays = 180

/**
 * Logs one warning when the table's date is more than {@link staleAfterDays} days before the
 * clock's time: its prices may have changed since.
 *
 * @since 0.3.0
 */
export const warnIfStale = (table: PriceTable): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const days = Math.floor((now - Date.parse(`${table.date}T00:00:00Z`)) / dayMillis)
    return days > staleAfterDays
      ? Effect.logWarning(
        `multirun: the price table of ${table.date} is ${days} days old; providers change their prices, so the ` +
          "costs recorded may be wrong. Give a newer table with `Pricing.layer(table)`, or update @multirun/ai."
      )
      : Effect.void
  })

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
  static readonly layerDefault: Layer.Layer<Pricing> = Layer.effect(
    Pricing,
    Effect.suspend(() => Effect.zipRight(warnIfStale(defaultTable), make(defaultTable)))
  )
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
 * `PricingError`); a table older than {@link staleAfterDays} days logs one warning when the
 * layer is built. Spread `Pricing.defaultTable.models` into it to extend the shipped table.
 *
 * @since 0.2.0
 */
export const layer = (table: PriceTable): Layer.Layer<Pricing, PricingError> =>
  Layer.effect(
    Pricing,
    Schema.decodeUnknown(PriceTable)(table).pipe(
      Effect.mapError((error) => new PricingError({ detail: ParseResult.TreeFormatter.formatErrorSync(error) })),
      Effect.tap(warnIfStale),
      Effect.flatMap(make)
    )
  )

/**
 * The shipped table (`defaultTable`, dated; one warning when built if it is older than
 * {@link staleAfterDays} days).
 *
 * @since 0.2.0
 */
export const layerDefault: Layer.Layer<Pricing> = Pricing.layerDefault
