/**
 * `multirun usage --by day`: what each project spent per UTC day of the last 30 (a step counts
 * on the day it started), with the most expensive runs and models, as tables or JSON; and the
 * one way the usage command asks a server.
 */
import { FetchHttpClient } from "@effect/platform"
import * as HttpClientError from "@effect/platform/HttpClientError"
import { Api } from "@multirun/core"
import { HttpApiClientFor } from "@multirun/core/RemoteLayer"
import type { UsageByDay } from "@multirun/sql"
import { Console, type DateTime, Effect, Option, Redacted, Schema } from "effect"
import * as format from "./format.js"

/** The typed client of the server's API. */
type ApiClient = Effect.Effect.Success<ReturnType<typeof HttpApiClientFor>>

const isHttpClientError = (error: unknown): error is HttpClientError.HttpClientError =>
  HttpClientError.isHttpClientError(error)

/**
 * The day `--until` names (`undefined` for today); a malformed day, or `--until` without
 * `--by day`, is one line.
 */
export const lastDay = (until: Option.Option<string>, byDay: boolean): Effect.Effect<DateTime.Utc | undefined, Error> => {
  if (Option.isNone(until)) return Effect.succeed(undefined)
  if (!byDay) return Effect.fail(new Error("--until goes with --by day"))
  return Schema.decodeUnknown(Api.UsageDaysParams)({ until: until.value }).pipe(
    Effect.map((params) => params.until),
    Effect.mapError(() => new Error(`--until ${until.value}: expected a UTC day of the calendar written YYYY-MM-DD`))
  )
}

/** Asks the server at `server` with `key`; an unreachable server or an unexpected answer is one line. */
export const askServer = <A, E>(
  server: string,
  key: string,
  ask: (api: ApiClient) => Effect.Effect<A, E | HttpClientError.HttpClientError>
) =>
  Effect.flatMap(HttpApiClientFor(server.replace(/\/+$/, ""), Redacted.make(key)), ask).pipe(
    Effect.catchIf(isHttpClientError, (error) =>
      Effect.fail(
        new Error(
          error._tag === "RequestError" ? `cannot reach ${server}: ${error.message}` : `${server} answered ${error.response.status}`
        )
      )),
    Effect.provide(FetchHttpClient.layer)
  )

/** What some steps cost, as the table's cells: steps, tokens, cost (`≥ $x (n unpriced)`, never `$0` when unknown). */
const cells = (s: UsageByDay.Spending): Array<string> =>
  [format.count(s.steps), format.count(s.tokens), format.totalCost(s.costUsd, s.unpricedSteps)]

/** One project's report as text: the days, the total, the most expensive runs and models. */
export const reportText = (report: UsageByDay.Report): string => {
  const lines = [
    `${report.project}: ${report.from} to ${report.to} (UTC days; a step counts on the day it started)`,
    format.table(["DAY", "RUNS", "STEPS", "TOKENS", "COST"], [
      ...report.days.map((d) => [d.day, format.count(d.runs), ...cells(d)]),
      ["total", format.count(report.total.runs), ...cells(report.total)]
    ])
  ]
  if (report.runs.length > 0) {
    lines.push("", "Most expensive runs", format.table(["RUN", "NAME", "STEPS", "TOKENS", "COST"], report.runs.map((r) => [r.runId, r.name, ...cells(r)])))
  }
  if (report.models.length > 0) {
    lines.push("", "Most expensive models", format.table(["MODEL", "STEPS", "TOKENS", "COST"], report.models.map((m) => [m.model, ...cells(m)])))
  }
  return lines.join("\n")
}

/** Prints the reports, as JSON (an array, one per project) or as text. */
export const printDays = (reports: ReadonlyArray<UsageByDay.Report>, asJson: boolean) =>
  Console.log(
    asJson ? JSON.stringify(reports, null, 2) : reports.length === 0 ? "No runs." : reports.map(reportText).join("\n\n")
  )
