/** The schemas of the usage answers of the HTTP API (`Api.UsageGroup`). */
import { Schema } from "effect"

/** A count: an integer ≥ 0. */
export const count = Schema.Int.pipe(Schema.nonNegative())

/** What some executed steps cost; `costUsd` is null when no cost is known but some is unknown. */
const spending = {
  steps: count,
  tokens: Schema.Number.pipe(Schema.nonNegative()),
  costUsd: Schema.NullOr(Schema.Number.pipe(Schema.nonNegative())),
  unpricedSteps: count
}

/** The answer of `GET /api/usage/days` (`Api.UsageByDay`). */
export const usageByDay = Schema.Struct({
  project: Schema.String,
  from: Schema.String,
  to: Schema.String,
  days: Schema.Array(Schema.Struct({ day: Schema.String, runs: count, ...spending })),
  total: Schema.Struct({ runs: count, ...spending }),
  runs: Schema.Array(Schema.Struct({ runId: Schema.String, name: Schema.String, ...spending })),
  models: Schema.Array(Schema.Struct({ model: Schema.String, ...spending }))
})
