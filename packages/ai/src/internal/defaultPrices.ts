/**
 * The price table shipped with @multirun/ai, as data. USD per million tokens, standard
 * (non-batch, non-priority) tier, prompts up to 200k tokens where a provider has tiers. Cache
 * writes are not priced (the usage an @effect/ai provider reports does not separate them).
 *
 * Update: edit the numbers, the `date` and the `source` line together; `Pricing.layer(table)`
 * overrides the whole table at run time.
 */

/** The default table (see `Pricing.defaultTable`). */
export const defaultPrices = {
  date: "2025-11-30",
  source: "list prices from the providers' pricing pages as of the date " +
    "(openai.com/api/pricing, anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing); " +
    "standard tier, prompts up to 200k tokens, cache writes not priced",
  models: {
    // OpenAI: input tokens include cached input tokens
    "gpt-5.1": { input: 1.25, output: 10, cachedInput: 0.125 },
    "gpt-5": { input: 1.25, output: 10, cachedInput: 0.125 },
    "gpt-5-mini": { input: 0.25, output: 2, cachedInput: 0.025 },
    "gpt-5-nano": { input: 0.05, output: 0.4, cachedInput: 0.005 },
    "gpt-4.1": { input: 2, output: 8, cachedInput: 0.5 },
    "gpt-4.1-mini": { input: 0.4, output: 1.6, cachedInput: 0.1 },
    "gpt-4.1-nano": { input: 0.1, output: 0.4, cachedInput: 0.025 },
    "gpt-4o": { input: 2.5, output: 10, cachedInput: 1.25 },
    "gpt-4o-2024-05-13": { input: 5, output: 15 },
    "gpt-4o-mini": { input: 0.15, output: 0.6, cachedInput: 0.075 },
    "gpt-4-turbo": { input: 10, output: 30 },
    "gpt-4": { input: 30, output: 60 },
    "gpt-3.5-turbo": { input: 0.5, output: 1.5 },
    "o1": { input: 15, output: 60, cachedInput: 7.5 },
    "o1-mini": { input: 1.1, output: 4.4, cachedInput: 0.55 },
    "o1-pro": { input: 150, output: 600 },
    "o3": { input: 2, output: 8, cachedInput: 0.5 },
    "o3-mini": { input: 1.1, output: 4.4, cachedInput: 0.55 },
    "o3-pro": { input: 20, output: 80 },
    "o4-mini": { input: 1.1, output: 4.4, cachedInput: 0.275 },
    // Anthropic: input tokens exclude cache reads, which are reported as cached input tokens
    "claude-opus-4-5": { input: 5, output: 25, cachedInput: 0.5, inputIncludesCached: false },
    "claude-opus-4-1": { input: 15, output: 75, cachedInput: 1.5, inputIncludesCached: false },
    "claude-opus-4": { input: 15, output: 75, cachedInput: 1.5, inputIncludesCached: false },
    "claude-sonnet-4-5": { input: 3, output: 15, cachedInput: 0.3, inputIncludesCached: false },
    "claude-sonnet-4": { input: 3, output: 15, cachedInput: 0.3, inputIncludesCached: false },
    "claude-haiku-4-5": { input: 1, output: 5, cachedInput: 0.1, inputIncludesCached: false },
    "claude-3-7-sonnet": { input: 3, output: 15, cachedInput: 0.3, inputIncludesCached: false },
    "claude-3-5-sonnet": { input: 3, output: 15, cachedInput: 0.3, inputIncludesCached: false },
    "claude-3-5-haiku": { input: 0.8, output: 4, cachedInput: 0.08, inputIncludesCached: false },
    "claude-3-opus": { input: 15, output: 75, cachedInput: 1.5, inputIncludesCached: false },
    "claude-3-haiku": { input: 0.25, output: 1.25, cachedInput: 0.03, inputIncludesCached: false },
    // Google: input tokens include cached input tokens; prices for prompts up to 200k tokens
    "gemini-3-pro-preview": { input: 2, output: 12, cachedInput: 0.2 },
    "gemini-2.5-pro": { input: 1.25, output: 10, cachedInput: 0.31 },
    "gemini-2.5-flash": { input: 0.3, output: 2.5, cachedInput: 0.075 },
    "gemini-2.5-flash-lite": { input: 0.1, output: 0.4, cachedInput: 0.025 },
    "gemini-2.0-flash": { input: 0.1, output: 0.4, cachedInput: 0.025 },
    "gemini-2.0-flash-lite": { input: 0.075, output: 0.3 },
    "gemini-1.5-pro": { input: 1.25, output: 5 },
    "gemini-1.5-flash": { input: 0.075, output: 0.3 }
  }
} as const
