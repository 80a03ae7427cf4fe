/**
 * The usage page (`/usage`): what the project spent per UTC day of the last 30 (a step counts on
 * the day it started), drawn as bars (plain elements sized by CSS, no chart library), with the
 * window's total, its most expensive runs and models, and the table of days. A day whose steps
 * include some of unknown cost is hatched and says `≥ $x (n unpriced)`, never `$0`.
 */
import { useEffect, useState } from "preact/hooks"
import { get, type Spending, type UsageDays } from "./api.js"
import { count, shortId, totalCost } from "./format.js"
import { Link, runPath } from "./router.js"
import "./usage.css"

type Day = UsageDays["days"][number]

const costOf = (s: Spending): string => totalCost(s.costUsd, s.unpricedSteps)

/** One bar per day, the highest full height; a title on each names the day and its value. */
const Chart = (props: {
  id: string
  title: string
  days: ReadonlyArray<Day>
  value: (day: Day) => number
  label: (day: Day) => string
}) => {
  const max = Math.max(0, ...props.days.map(props.value))
  const mid = props.days[Math.floor(props.days.length / 2)]
  return (
    <figure class="chart" id={props.id}>
      <figcaption>
        {props.title} <span class="muted">(highest {props.label(props.days.find((d) => props.value(d) === max)!)})</span>
      </figcaption>
      <div class="chart-bars">
        {props.days.map((day) => (
          <div class="chart-col" data-day={day.day} title={`${day.day}: ${props.label(day)}`} key={day.day}>
            <div
              class={`chart-bar${day.unpricedSteps > 0 ? " unpriced" : ""}`}
              style={{ height: `${max === 0 ? 0 : (props.value(day) / max) * 100}%` }}
            />
          </div>
        ))}
      </div>
      <div class="chart-axis muted">
        <span>{props.days[0]?.day}</span>
        <span>{mid?.day}</span>
        <span>{props.days.at(-1)?.day}</span>
      </div>
    </figure>
  )
}

/** The cells of what some steps cost: steps, tokens, cost. */
const SpendingCells = (props: { spending: Spending }) => (
  <>
    <td class="n">{count(props.spending.steps)}</td>
    <td class="n">{count(props.spending.tokens)}</td>
    <td class="n cost">{costOf(props.spending)}</td>
  </>
)

/** The page: the 30 days that end with `until` (`?until=2026-11-30`), or today. */
export const UsagePage = (props: { until?: string | undefined }) => {
  const [report, setReport] = useState<UsageDays | undefined>(undefined)
  const [error, setError] = useState("")
  useEffect(() => {
    get<UsageDays>("/usage/days", { until: props.until }).then(setReport, (e) => setError(String((e as Error).message)))
  }, [props.until])
  if (error) return <main><p class="error" role="alert">{error}</p></main>
  if (report === undefined) return <main><p class="muted">Loading usage…</p></main>
  const { total } = report
  return (
    <main class="usage-page">
      <h1>Usage · {props.until === undefined ? "last 30 days" : `30 days to ${report.to}`}</h1>
      <p class="muted" id="usage-basis">
        {report.project} · {report.from} to {report.to}, in UTC days: a step counts on the day it started, a run on each
        day one of its steps started. Replayed steps cost nothing.
      </p>
      <dl class="totals" id="usage-total">
        <div><dt>runs</dt><dd id="total-runs">{count(total.runs)}</dd></div>
        <div><dt>steps</dt><dd id="total-steps">{count(total.steps)}</dd></div>
        <div><dt>tokens</dt><dd id="total-tokens">{count(total.tokens)}</dd></div>
        <div><dt>cost</dt><dd id="total-cost">{costOf(total)}</dd></div>
      </dl>
      <div class="charts">
        <Chart id="cost-chart" title="Cost per day" days={report.days} value={(d) => d.costUsd ?? 0} label={costOf} />
        <Chart id="tokens-chart" title="Tokens per day" days={report.days} value={(d) => d.tokens} label={(d) => `${count(d.tokens)} tokens`} />
      </div>
      <div class="usage-tops">
        <section>
          <h2>Most expensive runs</h2>
          <table id="top-runs">
            <thead><tr><th>id</th><th>name</th><th class="n">steps</th><th class="n">tokens</th><th class="n">cost</th></tr></thead>
            <tbody>
              {report.runs.length === 0 && <tr><td colSpan={5} class="empty">No steps in these days.</td></tr>}
              {report.runs.map((run) => (
                <tr data-run-id={run.runId} key={run.runId}>
                  <td class="mono" title={run.runId}>{shortId(run.runId)}</td>
                  <td><Link href={runPath(run.runId)}>{run.name}</Link></td>
                  <SpendingCells spending={run} />
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section>
          <h2>Most expensive models</h2>
          <table id="top-models">
            <thead><tr><th>model</th><th class="n">steps</th><th class="n">tokens</th><th class="n">cost</th></tr></thead>
            <tbody>
              {report.models.length === 0 && <tr><td colSpan={4} class="empty">No model calls in these days.</td></tr>}
              {report.models.map((model) => (
                <tr data-model={model.model} key={model.model}>
                  <td class="mono">{model.model}</td>
                  <SpendingCells spending={model} />
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
      <h2>Per day</h2>
      <table id="usage-days" class="usage-days">
        <thead><tr><th>day (UTC)</th><th class="n">runs</th><th class="n">steps</th><th class="n">tokens</th><th class="n">cost</th></tr></thead>
        <tbody>
          {[...report.days].reverse().map((day) => (
            <tr data-day={day.day} key={day.day} class={day.steps === 0 ? "idle" : undefined}>
              <td>{day.day}</td>
              <td class="n">{count(day.runs)}</td>
              <SpendingCells spending={day} />
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  )
}
