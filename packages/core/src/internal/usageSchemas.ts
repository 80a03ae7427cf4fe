/** The schemas of the usage answers of the HTTP API (`Api.UsageGroup`). */
import { DateTime, Schema } from "effect"

/** A count: an integer ≥ 0. */
export const count = Schema.Int.pipe(Schema.nonNegative())

/** What some executed steps cost; `costUsd` is null when no cost is known but some is unknown. */
const spending = {
  steps: count,
  tokens: Schema.Number.pipe(Schema.nonNegative()),
  costUsd: Schema.NullOr(Schema.Number.pipe(Schema.nonNegative())),
  unpricedSteps: count
}

/** A UTC day written `2026-11-30`, a day that exists. */
export const isoDay = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}$/, { message: () => "expected a UTC day written YYYY-MM-DD" }),
  Schema.filter((day) => {
    const millis = Date.parse(`${day}T00:00:00Z`)
    return !Number.isNaN(millis) && new Date(millis).toISOString().startsWith(day)
  }, {
    message: (issue) => `${JSON.stringify(issue.actual)} is not a day of the calendar`
  })
)

/** A UTC day written `2026-11-30`, as the midnight that starts it. */
const isoDayStart = Schema.transform(isoDay, Schema.DateTimeUtcFromSelf, {
  strict: true,
  decode: (day) => DateTime.unsafeMake(`${day}T00:00:00Z`),
  encode: (start) => DateTime.formatIsoDateUtc(start)
})

/** The query of `GET /api/usage/days`: the last day of the 30 (today when absent). */
export const usageDaysParams = Schema.Struct({ until: Schema.optional(isoDayStart) })

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
