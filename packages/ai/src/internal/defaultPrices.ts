/**
 * The price table shipped with @multirun/ai, as data. USD per million tokens, standard
 * (non-batch, non-priority) tier, prompts up to 200k tokens where a provider has tiers. Cache
 * writes are not priced (the usage an @effect/ai provider reports does not separate them).
 *
 * Every row names the provider's pricing page it was checked against and the date it was checked.
 * A model whose price could not be confirmed there is left out (its calls cost `null`, with one
 * warning), never guessed. OpenAI's rows agree with at least two published copies of its page (the
 * page itself could not be read where the table was made). Left out on 2026-12-07: OpenAI `o3`, `o4-mini`, `o1-mini`, `o1-pro`,
 * `gpt-4-turbo`, `gpt-4` and the dated `gpt-4o-2024-05-13`, Anthropic `claude-opus-4-5`
 * (sources disagreed or none was found), and Google's models (not checked).
 *
 * Update: edit the numbers with their `checked` date and the table's `date` together;
 * `Pricing.layer(table)` overrides the whole table at run time.
 */

const openAi = { source: "https://openai.com/api/pricing/", checked: "2026-12-07" } as const
const anthropic = { source: "https://docs.anthropic.com/en/docs/about-claude/pricing", checked: "2026-12-07" } as const

/** The default table (see `Pricing.defaultTable`). */
export const defaultPrices = {
  date: "2026-12-07",
  source: "list prices from the providers' pricing pages (each row names its page and the date it was checked); " +
    "standard tier, prompts up to 200k tokens, cache writes not priced",
  models: {
    // OpenAI
    "gpt-5.1": { input: 1.25, output: 10, cachedInput: 0.125, ...openAi },
    "gpt-5": { input: 1.25, output: 10, cachedInput: 0.125, ...openAi },
    "gpt-5-pro": { input: 15, output: 120, ...openAi },
    "gpt-5-mini": { input: 0.25, output: 2, cachedInput: 0.025, ...openAi },
    "gpt-5-nano": { input: 0.05, output: 0.4, cachedInput: 0.005, ...openAi },
    "gpt-4.1": { input: 2, output: 8, cachedInput: 0.5, ...openAi },
    "gpt-4.1-mini": { input: 0.4, output: 1.6, cachedInput: 0.1, ...openAi },
    "gpt-4.1-nano": { input: 0.1, output: 0.4, cachedInput: 0.025, ...openAi },
    "gpt-4o": { input: 2.5, output: 10, cachedInput: 1.25, ...openAi },
    "gpt-4o-mini": { input: 0.15, output: 0.6, cachedInput: 0.075, ...openAi },
    "gpt-3.5-turbo": { input: 0.5, output: 1.5, ...openAi },
    "o1": { input: 15, output: 60, cachedInput: 7.5, ...openAi },
    "o3-mini": { input: 1.1, output: 4.4, cachedInput: 0.55, ...openAi },
    "o3-pro": { input: 20, output: 80, ...openAi },
    // Anthropic ("Cache Hits & Refreshes" as the cached-input price)
    "claude-opus-4-1": { input: 15, output: 75, cachedInput: 1.5, ...anthropic },
    "claude-opus-4": { input: 15, output: 75, cachedInput: 1.5, ...anthropic },
    "claude-sonnet-4-5": { input: 3, output: 15, cachedInput: 0.3, ...anthropic },
    "claude-sonnet-4": { input: 3, output: 15, cachedInput: 0.3, ...anthropic },
    "claude-haiku-4-5": { input: 1, output: 5, cachedInput: 0.1, ...anthropic },
    "claude-3-7-sonnet": { input: 3, output: 15, cachedInput: 0.3, ...anthropic },
    "claude-3-5-sonnet": { input: 3, output: 15, cachedInput: 0.3, ...anthropic },
    "claude-3-5-haiku": { input: 0.8, output: 4, cachedInput: 0.08, ...anthropic },
    "claude-3-opus": { input: 15, output: 75, cachedInput: 1.5, ...anthropic },
    "claude-3-haiku": { input: 0.25, output: 1.25, cachedInput: 0.03, ...anthropic }
  }
} as const
