/**
 * Two runs compared step by step: the steps of run A and run B aligned by agent name, step name
 * and occurrence (the n-th call of that name by that agent, in `seq` order), what differs in each
 * pair (input, output, status, model, the output and input as JSON paths of the differences),
 * steps found in one run only, and the deltas (B − A) of latency, tokens and cost per step, per
 * agent and in total. When one run is a fork of the other, the steps the fork inherits (those its
 * checkpoint covers) count on its side too, as the parent's records: same, with deltas 0. An
 * unknown cost stays unknown: a delta with an unpriced step on either side is `null`, never 0.
 * Pure: the caller reads the records (`GET /api/runs/:a/diff/:b`, `multirun runs diff A B`).
 *
 * @since 0.3.0
 */
import { Schema } from "effect"
import { differences } from "./internal/canonical.js"
import { summedCost, toNanos } from "./internal/totals.js"
import { type SeqRanges, Status } from "./Model.js"
import type * as Step from "./StepRecord.js"

/**
 * What may differ between two aligned steps.
 *
 * @since 0.3.0
 */
export const Change = Schema.Literal("input", "output", "status", "model")

/** @since 0.3.0 */
export type Change = typeof Change.Type

/**
 * The side of an aligned step: what a row shows of the step in one run.
 *
 * @since 0.3.0
 */
export const StepSide = Schema.Struct({
  id: Schema.String,
  seq: Schema.Int,
  kind: Schema.String,
  status: Status,
  model: Schema.NullOr(Schema.String),
  latencyMs: Schema.Number,
  tokensUsed: Schema.Number,
  costUsd: Schema.NullOr(Schema.Number)
})

/** @since 0.3.0 */
export type StepSide = typeof StepSide.Type

/**
 * One aligned pair (or a step of one run only, the other side `null`): the changes, the JSON
 * paths where input and output differ (at most {@link maxPaths} each), and the deltas B − A (a
 * step of A only counts as −A, of B only as +B; `costUsd` is `null` when a side's cost is unknown).
 *
 * @since 0.3.0
 */
export const Row = Schema.Struct({
  agent: Schema.String,
  name: Schema.String,
  occurrence: Schema.Int,
  a: Schema.NullOr(StepSide),
  b: Schema.NullOr(StepSide),
  changes: Schema.Array(Change),
  /** Both sides are one record: the fork inherits the parent's step (see {@link Side} `inherits`). */
  inherited: Schema.Boolean,
  inputPaths: Schema.Array(Schema.String),
  outputPaths: Schema.Array(Schema.String),
  latencyMs: Schema.Number,
  tokensUsed: Schema.Number,
  costUsd: Schema.NullOr(Schema.Number)
})

/** @since 0.3.0 */
export type Row = typeof Row.Type

/**
 * The sums of one side over a set of rows: `costUsd` is the sum of the known costs, `null` when
 * every step's cost is unknown; `unpricedSteps` counts the steps with no known cost.
 *
 * @since 0.3.0
 */
export const Sum = Schema.Struct({
  steps: Schema.Int,
  latencyMs: Schema.Number,
  tokensUsed: Schema.Number,
  costUsd: Schema.NullOr(Schema.Number),
  unpricedSteps: Schema.Int
})

/** @since 0.3.0 */
export type Sum = typeof Sum.Type

/**
 * Sums of A and B and their deltas B − A (`costUsd` `null` when either side has an unpriced step).
 *
 * @since 0.3.0
 */
export const Delta = Schema.Struct({
  a: Sum,
  b: Sum,
  latencyMs: Schema.Number,
  tokensUsed: Schema.Number,
  costUsd: Schema.NullOr(Schema.Number)
})

/** @since 0.3.0 */
export type Delta = typeof Delta.Type

/**
 * A run as a compare names it.
 *
 * @since 0.3.0
 */
export const RunRef = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: Schema.String,
  tags: Schema.Array(Schema.String),
  parentRunId: Schema.NullOr(Schema.String)
})

/** @since 0.3.0 */
export type RunRef = typeof RunRef.Type

/**
 * Two runs compared: the rows in run order (A's `seq`, a step of B only after the row of the B
 * step before it that A holds too), the deltas per agent (in the order agents first appear) and
 * in total, and how many rows differ (a change, or a step of one run only).
 *
 * @since 0.3.0
 */
export const RunDiff = Schema.Struct({
  a: RunRef,
  b: RunRef,
  rows: Schema.Array(Row),
  agents: Schema.Array(Schema.extend(Schema.Struct({ agent: Schema.String }), Delta)),
  total: Delta,
  differing: Schema.Int
})

/** @since 0.3.0 */
export type RunDiff = typeof RunDiff.Type

/**
 * What the alignment reads of a step (a stored record has these fields; the others may be left
 * out when reading a big run).
 *
 * @since 0.3.0
 */
export type StepInput = Pick<
  Step.Encoded,
  | "id"
  | "agentId"
  | "name"
  | "kind"
  | "seq"
  | "inputHash"
  | "input"
  | "output"
  | "status"
  | "latencyMs"
  | "tokensUsed"
  | "costUsd"
  | "model"
>

/**
 * One run to compare: its record, its agents (for their names) and its steps, in any order. A
 * fork names the steps it inherits: `covered`, the `seq` ranges of run `runId` (its parent) that
 * the checkpoint it was forked from covers.
 *
 * @since 0.3.0
 */
export interface Side {
  readonly run: RunRef
  readonly agents: ReadonlyArray<{ readonly id: string; readonly name: string }>
  readonly steps: ReadonlyArray<StepInput>
  readonly inherits?: { readonly runId: string; readonly covered: SeqRanges } | undefined
}

/**
 * The most JSON paths a row lists for its input and for its output.
 *
 * @since 0.3.0
 */
export const maxPaths = 20

/** A step's fields as the alignment needs them (`StepInput` may hold `undefined` model in old records). */
const sideOf = (step: StepInput): StepSide => ({
  id: step.id,
  seq: step.seq,
  kind: step.kind,
  status: step.status,
  model: step.model ?? null,
  latencyMs: step.latencyMs,
  tokensUsed: step.tokensUsed,
  costUsd: step.costUsd
})

interface Keyed {
  readonly key: string
  readonly agent: string
  readonly occurrence: number
  readonly step: StepInput
}

const bySeq = (x: StepInput, y: StepInput) => x.seq - y.seq

const covers = (ranges: SeqRanges, seq: number) => ranges.some(([from, to]) => from <= seq && seq < to)

/**
 * The steps of a run in `seq` order with their alignment key, after the steps it inherits of
 * `other` when it is a fork of it.
 */
const keyed = (side: Side, other: Side): Array<Keyed> => {
  const inherited = side.inherits?.runId === other.run.id
    ? other.steps.filter((step) => covers(side.inherits!.covered, step.seq)).sort(bySeq)
    : []
  const names = new Map([...other.agents, ...side.agents].map((agent) => [agent.id, agent.name]))
  const seen = new Map<string, number>()
  return [...inherited, ...[...side.steps].sort(bySeq)].map((step) => {
    const agent = names.get(step.agentId) ?? step.agentId
    const base = JSON.stringify([agent, step.name])
    const occurrence = seen.get(base) ?? 0
    seen.set(base, occurrence + 1)
    return { key: `${base}#${occurrence}`, agent, occurrence, step }
  })
}

/** JSON text parsed, `null` for none. */
const parsed = (text: string | null | undefined): unknown => text == null ? null : JSON.parse(text)

/** The paths where two stored JSON texts differ (canonical JSON: equal texts are equal values). */
const pathsOf = (a: string | null | undefined, b: string | null | undefined, root: string): Array<string> =>
  (a ?? null) === (b ?? null) ? [] : differences(parsed(a), parsed(b), root, maxPaths)

const rowOf = (agent: string, occurrence: number, a: StepInput | undefined, b: StepInput | undefined): Row => {
  const changes: Array<Change> = []
  let inputPaths: Array<string> = []
  let outputPaths: Array<string> = []
  if (a !== undefined && b !== undefined) {
    if (a.inputHash !== b.inputHash) {
      changes.push("input")
      inputPaths = pathsOf(a.input, b.input, "input")
    }
    outputPaths = pathsOf(a.output, b.output, "output")
    if (outputPaths.length > 0) changes.push("output")
    if (a.status !== b.status) changes.push("status")
    if ((a.model ?? null) !== (b.model ?? null)) changes.push("model")
  }
  const value = (step: StepInput | undefined, f: (s: StepInput) => number) => step === undefined ? 0 : f(step)
  const costKnown = (a === undefined || a.costUsd !== null) && (b === undefined || b.costUsd !== null)
  return {
    agent,
    name: (a ?? b)!.name,
    occurrence,
    a: a === undefined ? null : sideOf(a),
    b: b === undefined ? null : sideOf(b),
    changes,
    inherited: a !== undefined && a.id === b?.id,
    inputPaths,
    outputPaths,
    latencyMs: value(b, (s) => s.latencyMs) - value(a, (s) => s.latencyMs),
    tokensUsed: value(b, (s) => s.tokensUsed) - value(a, (s) => s.tokensUsed),
    costUsd: costKnown ? (toNanos(b?.costUsd ?? 0) - toNanos(a?.costUsd ?? 0)) / 1e9 : null
  }
}

interface MutableSum {
  steps: number
  latencyMs: number
  tokensUsed: number
  costNanos: number
  unpricedSteps: number
}

const emptySum = (): MutableSum => ({ steps: 0, latencyMs: 0, tokensUsed: 0, costNanos: 0, unpricedSteps: 0 })

const add = (sum: MutableSum, side: StepSide | null): void => {
  if (side === null) return
  sum.steps += 1
  sum.latencyMs += side.latencyMs
  sum.tokensUsed += side.tokensUsed
  if (side.costUsd === null) sum.unpricedSteps += 1
  else sum.costNanos += toNanos(side.costUsd)
}

const sumOf = (sum: MutableSum): Sum => ({
  steps: sum.steps,
  latencyMs: sum.latencyMs,
  tokensUsed: sum.tokensUsed,
  costUsd: summedCost(sum.costNanos, sum.unpricedSteps),
  unpricedSteps: sum.unpricedSteps
})

const deltaOf = (a: MutableSum, b: MutableSum): Delta => ({
  a: sumOf(a),
  b: sumOf(b),
  latencyMs: b.latencyMs - a.latencyMs,
  tokensUsed: b.tokensUsed - a.tokensUsed,
  costUsd: a.unpricedSteps + b.unpricedSteps > 0 ? null : (b.costNanos - a.costNanos) / 1e9
})

/**
 * Compares two runs (see the module's description).
 *
 * @since 0.3.0
 */
export const make = (a: Side, b: Side): RunDiff => {
  const stepsA = keyed(a, b)
  const stepsB = keyed(b, a)
  const byKeyB = new Map(stepsB.map((s) => [s.key, s]))
  // a row's place: its A step's place in A, or for a step of B only, after the row of the B
  // step before it that A holds too (then in B's order)
  const matched = new Map<string, number>()
  const placed: Array<{ readonly row: Row; readonly at: number; readonly after: number }> = []
  stepsA.forEach((s, i) => {
    const other = byKeyB.get(s.key)
    if (other !== undefined) matched.set(s.key, i)
    placed.push({ row: rowOf(s.agent, s.occurrence, s.step, other?.step), at: i, after: -1 })
  })
  let lastA = -1
  stepsB.forEach((s, i) => {
    const at = matched.get(s.key)
    if (at !== undefined) lastA = Math.max(lastA, at)
    else placed.push({ row: rowOf(s.agent, s.occurrence, undefined, s.step), at: lastA, after: i })
  })
  const rows = placed.sort((x, y) => x.at - y.at || x.after - y.after).map((p) => p.row)
  const total = { a: emptySum(), b: emptySum() }
  const perAgent = new Map<string, { a: MutableSum; b: MutableSum }>()
  let differing = 0
  for (const row of rows) {
    const agent = perAgent.get(row.agent) ?? { a: emptySum(), b: emptySum() }
    perAgent.set(row.agent, agent)
    for (const sums of [total, agent]) {
      add(sums.a, row.a)
      add(sums.b, row.b)
    }
    if (row.changes.length > 0 || row.a === null || row.b === null) differing += 1
  }
  return {
    a: a.run,
    b: b.run,
    rows,
    agents: [...perAgent].map(([agent, sums]) => ({ agent, ...deltaOf(sums.a, sums.b) })),
    total: deltaOf(total.a, total.b),
    differing
  }
}
