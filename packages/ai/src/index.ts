/**
 * @multirun/ai: @effect/ai model calls and tool calls tracked as multirun steps, replayed on
 * resume, priced from a dated table.
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export * as Pricing from "./Pricing.js"
/** @since 0.2.0 */
export * as TrackedLanguageModel from "./TrackedLanguageModel.js"
/** @since 0.2.0 */
export * as TrackedToolkit from "./TrackedToolkit.js"

export { type ModelPrice, type PriceTable, PricingError, type PricingService } from "./Pricing.js"
