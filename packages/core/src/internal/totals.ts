/** Totals kept by runs and agents in this process, updated synchronously so they are exact. */
import type { Totals } from "../Model.js"

/** Totals as mutable fields. */
export interface MutableTotals {
  stepCount: number
  tokensUsed: number
  costUsd: number
  latencyMs: number
}

/** Zero totals. */
export const zero = (): MutableTotals => ({ stepCount: 0, tokensUsed: 0, costUsd: 0, latencyMs: 0 })

/** A mutable copy of stored totals (a checkpoint's, an agent snapshot's). */
export const copy = (totals: Totals): MutableTotals => ({
  stepCount: totals.stepCount,
  tokensUsed: totals.tokensUsed,
  costUsd: totals.costUsd,
  latencyMs: totals.latencyMs
})

/** Counts one finished, executed step into totals. */
export const addStep = (totals: MutableTotals, latencyMs: number, tokensUsed: number, costUsd: number): void => {
  totals.stepCount++
  totals.latencyMs += latencyMs
  totals.tokensUsed += tokensUsed
  totals.costUsd += costUsd
}
