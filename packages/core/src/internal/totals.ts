/**
 * Usage and totals kept by steps, agents and runs in this process. Cost is kept as integer
 * nano-dollars, so totals are exact and do not depend on the order steps complete in.
 */
import { SerializationError } from "../Errors.js"
import type { Totals } from "../Model.js"
import type * as Step from "../StepRecord.js"
import type { Usage } from "../StepContext.js"
import type { StepUsage } from "../Telemetry.js"

/** Token counts and cost (in nano-dollars) as mutable fields. */
export interface MutableUsage {
  inputTokens: number
  outputTokens: number
  cachedInputTokens: number
  reasoningTokens: number
  tokensUsed: number
  costNanos: number
}

/** Totals as mutable fields; `unpricedSteps` of the `stepCount` steps have no cost in `costNanos`. */
export interface MutableTotals extends MutableUsage {
  stepCount: number
  unpricedSteps: number
  latencyMs: number
}

/** USD to integer nano-dollars. */
export const toNanos = (usd: number): number => Math.round(usd * 1e9)

/** Zero usage. */
export const zeroUsage = (): MutableUsage => ({
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  tokensUsed: 0,
  costNanos: 0
})

/** Zero totals. */
export const zero = (): MutableTotals => ({ ...zeroUsage(), stepCount: 0, unpricedSteps: 0, latencyMs: 0 })

/** A copy of mutable totals. */
export const copyOf = (totals: MutableTotals): MutableTotals => ({ ...totals })

/**
 * The cost of a sum of steps, from its known costs in nano-dollars: `null` when none is known
 * but some step's is unknown, the sum of the known costs otherwise.
 */
export const summedCost = (costNanos: number, unpricedSteps: number): number | null =>
  unpricedSteps > 0 && costNanos === 0 ? null : costNanos / 1e9

/** Totals as recorded, their cost by {@link summedCost}. */
export const toRecord = (totals: MutableTotals): Totals => ({
  stepCount: totals.stepCount,
  inputTokens: totals.inputTokens,
  outputTokens: totals.outputTokens,
  cachedInputTokens: totals.cachedInputTokens,
  reasoningTokens: totals.reasoningTokens,
  tokensUsed: totals.tokensUsed,
  costUsd: summedCost(totals.costNanos, totals.unpricedSteps),
  unpricedSteps: totals.unpricedSteps,
  latencyMs: totals.latencyMs
})

/** Recorded totals (as decoded, or as written by any version) as mutable fields. */
export const fromRecord = (totals: typeof Totals.Encoded): MutableTotals => ({
  stepCount: totals.stepCount,
  inputTokens: totals.inputTokens ?? 0,
  outputTokens: totals.outputTokens ?? 0,
  cachedInputTokens: totals.cachedInputTokens ?? 0,
  reasoningTokens: totals.reasoningTokens ?? 0,
  tokensUsed: totals.tokensUsed,
  costNanos: totals.costUsd === null ? 0 : toNanos(totals.costUsd),
  unpricedSteps: totals.unpricedSteps ?? 0,
  latencyMs: totals.latencyMs
})

/** Adds the token counts and cost of `usage` to `into`. */
const addUsageOf = (into: MutableUsage, usage: MutableUsage): void => {
  into.inputTokens += usage.inputTokens
  into.outputTokens += usage.outputTokens
  into.cachedInputTokens += usage.cachedInputTokens
  into.reasoningTokens += usage.reasoningTokens
  into.tokensUsed += usage.tokensUsed
  into.costNanos += usage.costNanos
}

/** Adds totals to totals. */
export const addTotals = (into: MutableTotals, totals: MutableTotals): void => {
  addUsageOf(into, totals)
  into.stepCount += totals.stepCount
  into.unpricedSteps += totals.unpricedSteps
  into.latencyMs += totals.latencyMs
}

const counts = ["inputTokens", "outputTokens", "cachedInputTokens", "reasoningTokens", "tokensUsed", "costUsd"] as const

/** Whether a count or cost is absent or a finite number ≥ 0. */
const valid = (value: unknown): boolean =>
  value === undefined || value === null || (typeof value === "number" && Number.isFinite(value) && value >= 0)

/** Why a usage report cannot be recorded: a count or cost that is not a finite number ≥ 0. */
export const invalidUsage = (usage: Usage): SerializationError | undefined => {
  // each field read by name: this runs once per step with usage
  if (
    valid(usage.inputTokens) && valid(usage.outputTokens) && valid(usage.cachedInputTokens) &&
    valid(usage.reasoningTokens) && valid(usage.tokensUsed) && valid(usage.costUsd)
  ) return undefined
  for (const field of counts) {
    const value = usage[field]
    if (!valid(value)) {
      return new SerializationError({
        path: `usage.${field}`,
        found: typeof value === "number" ? String(value) : typeof value,
        detail: "token counts and costs must be finite numbers ≥ 0 (use `costUsd: null` for an unknown cost)"
      })
    }
  }
  return undefined
}

/** Calls a step's `usage` option; an exception becomes a typed error instead of a defect. */
export const reported = <A>(usage: (result: A) => Usage, result: A): Usage | SerializationError => {
  try {
    return usage(result)
  } catch (error) {
    return new SerializationError({
      path: "usage",
      found: "an exception thrown by the step's `usage` option",
      detail: error instanceof Error ? error.message : String(error)
    })
  }
}

/** Adds one usage report to a step's usage; returns whether it said the cost is unknown. */
export const addUsage = (into: MutableUsage, usage: Usage): boolean => {
  const input = usage.inputTokens ?? 0
  const output = usage.outputTokens ?? 0
  into.inputTokens += input
  into.outputTokens += output
  into.cachedInputTokens += usage.cachedInputTokens ?? 0
  into.reasoningTokens += usage.reasoningTokens ?? 0
  into.tokensUsed += usage.tokensUsed ?? input + output
  if (typeof usage.costUsd === "number") into.costNanos += toNanos(usage.costUsd)
  return usage.costUsd === null
}

/** Counts one finished, executed step into totals; `unpriced` when its cost is unknown. */
export const addStep = (totals: MutableTotals, latencyMs: number, usage: MutableUsage, unpriced: boolean): void => {
  totals.stepCount++
  if (unpriced) totals.unpricedSteps++
  totals.latencyMs += latencyMs
  addUsageOf(totals, usage)
}

/** What a run's executed steps cost: in total, and by agent id. */
export interface Spent {
  readonly total: MutableTotals
  readonly byAgent: ReadonlyMap<string, MutableTotals>
}

/**
 * What the executed steps among `steps` cost, in total and by agent id (a replayed step costs
 * nothing, an unknown cost is counted in `unpricedSteps`): the totals of a run over every attempt.
 */
export const spent = (steps: Iterable<Step.Encoded>): Spent => {
  const total = zero()
  const byAgent = new Map<string, MutableTotals>()
  for (const step of steps) {
    if (step.replayed) continue
    let agent = byAgent.get(step.agentId)
    if (agent === undefined) byAgent.set(step.agentId, agent = zero())
    const usage: MutableUsage = {
      inputTokens: step.inputTokens ?? 0,
      outputTokens: step.outputTokens ?? 0,
      cachedInputTokens: step.cachedInputTokens ?? 0,
      reasoningTokens: step.reasoningTokens ?? 0,
      tokensUsed: step.tokensUsed,
      costNanos: step.costUsd === null ? 0 : toNanos(step.costUsd)
    }
    const unpriced = step.costUsd === null
    addStep(total, step.latencyMs, usage, unpriced)
    addStep(agent, step.latencyMs, usage, unpriced)
  }
  return { total, byAgent }
}

/** The usage fields of a step that cost nothing: a replayed one. */
export const noUsageFields: StepUsage = {
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  tokensUsed: 0,
  costUsd: 0,
  model: null
}
