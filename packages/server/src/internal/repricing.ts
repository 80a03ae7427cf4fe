/**
 * `multirun usage --prices FILE`: the stored `llm_call` steps priced again, from their recorded
 * model and token counts, with a price table read from a JSON file, beside the cost recorded when
 * they ran; a call the table does not price, or that recorded no usage, is named and counted,
 * never priced as 0. The price of a call is @multirun/ai's `Pricing.lookup` and
 * `Pricing.costNanos` (that module imports `effect` alone). It only reads: recorded costs stay as
 * they were.
 */
import { FileSystem } from "@effect/platform"
import * as Pricing from "@multirun/ai/Pricing"
import type { BackendError } from "@multirun/core/Errors"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import type * as Run from "@multirun/core/Run"
import type * as Step from "@multirun/core/StepRecord"
import { Data, Effect, Either, Option, ParseResult, Schema } from "effect"
import * as format from "./format.js"

/**
 * A price file that cannot be used: unreadable, not JSON, not the shape of a price table (the
 * message names the path of the first problem), or a table without its date.
 */
export class PriceFileError extends Data.TaggedError("PriceFileError")<{
  readonly reason: "Unreadable" | "NotJson" | "Shape" | "NoDate"
  readonly message: string
}> {}

const fileProblems: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "it is a directory",
  EACCES: "permission denied"
}

/** `models["gpt-4o"].input`, `date` */
const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, i) =>
    typeof key === "number"
      ? `[${key}]`
      : typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)
      ? `${i === 0 ? "" : "."}${key}`
      : `[${JSON.stringify(String(key))}]`
  ).join("")

const kindOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`

/**
 * The price table of a JSON file, in the shape `Pricing.layer(table)` takes (`Pricing.PriceTable`:
 * `date`, `source`, `models`), or a one-line {@link PriceFileError}.
 */
export const readTable = (file: string): Effect.Effect<Pricing.PriceTable, PriceFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fail = (reason: PriceFileError["reason"], problem: string) =>
      new PriceFileError({ reason, message: `--prices: ${problem}` })
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => {
        const code = (error.cause as { readonly code?: string } | undefined)?.code ?? ""
        return fail("Unreadable", `cannot read ${file}: ${fileProblems[code] ?? error.description ?? error.message}`)
      })
    )
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) => fail("NotJson", `${file} is not JSON (${(error as Error).message})`)
    })
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return yield* fail("Shape", `${file} holds ${kindOf(json)}, not a price table { "date", "source", "models" }`)
    }
    if (!("date" in json)) {
      return yield* fail("NoDate", `${file} has no "date": give the day its prices were taken (YYYY-MM-DD)`)
    }
    return yield* Schema.decodeUnknown(Pricing.PriceTable)(json, { errors: "all" }).pipe(
      Effect.mapError((error) => {
        const [first, ...more] = ParseResult.ArrayFormatter.formatErrorSync(error)
        const others = more.length === 0 ? "" : ` (and ${more.length} more problem${more.length === 1 ? "" : "s"})`
        return fail("Shape", `${file}: ${pathText(first!.path)}: ${first!.message}${others}`)
      })
    )
  })

/** The most runs a backend lists at once (the bound of `RunFilter.limit`). */
const maxRuns = 10_000

/** What re-pricing reads of a model call (its input and output are not kept). */
type Call = Pick<Step.Encoded, "model" | "inputTokens" | "outputTokens" | "cachedInputTokens" | "tokensUsed" | "costUsd">

/** A run and its billed model calls. */
interface RunCalls {
  readonly run: Pick<Run.Encoded, "id" | "name">
  readonly calls: ReadonlyArray<Call>
}

/**
 * A project's runs (the newest {@link maxRuns}) with their model calls, read from the
 * `MultiRunClient` in context. Replayed calls are left out: they were not billed.
 */
export interface ProjectCalls {
  readonly project: string
  readonly runs: ReadonlyArray<RunCalls>
  readonly truncated: boolean
}

/** Reads the model calls of `project` from the backend in context. */
export const projectCalls = (project: string): Effect.Effect<ProjectCalls, BackendError, MultiRunClient> =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient
    const runs = yield* client.listRuns({ limit: maxRuns })
    const withCalls = yield* Effect.forEach(
      runs,
      (run) =>
        Effect.map(client.listSteps(run.id), (steps): RunCalls => ({
          run: { id: run.id, name: run.name },
          calls: steps.filter((step) => step.kind === "llm_call" && !step.replayed).map((step) => ({
            model: step.model,
            inputTokens: step.inputTokens,
            outputTokens: step.outputTokens,
            cachedInputTokens: step.cachedInputTokens,
            tokensUsed: step.tokensUsed,
            costUsd: step.costUsd
          }))
        })),
      { concurrency: 4 }
    )
    return { project, runs: withCalls.filter((r) => r.calls.length > 0), truncated: runs.length === maxRuns }
  })

/** Sums of a group of calls; costs in nano-dollars. */
interface Sum {
  calls: number
  inputTokens: number
  outputTokens: number
  cachedInputTokens: number
  recordedNanos: bigint
  recordedUnknown: number
  repricedNanos: bigint
  notPriced: number
}

const zero = (): Sum => ({
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  recordedNanos: 0n,
  recordedUnknown: 0,
  repricedNanos: 0n,
  notPriced: 0
})

const add = (sum: Sum, call: Call, repriced: Option.Option<bigint>): void => {
  sum.calls += 1
  sum.inputTokens += call.inputTokens ?? 0
  sum.outputTokens += call.outputTokens ?? 0
  sum.cachedInputTokens += call.cachedInputTokens ?? 0
  if (call.costUsd === null) sum.recordedUnknown += 1
  else sum.recordedNanos += BigInt(Math.round(call.costUsd * 1e9))
  if (Option.isSome(repriced)) sum.repricedNanos += repriced.value
  else sum.notPriced += 1
}

/** A sum as reported: USD; a cost is `null` when no call of the group has one (never 0). */
const line = (sum: Sum) => ({
  calls: sum.calls,
  inputTokens: sum.inputTokens,
  outputTokens: sum.outputTokens,
  cachedInputTokens: sum.cachedInputTokens,
  recordedUsd: sum.recordedUnknown === sum.calls ? null : Number(sum.recordedNanos) / 1e9,
  recordedUnknownCalls: sum.recordedUnknown,
  repricedUsd: sum.notPriced === sum.calls ? null : Number(sum.repricedNanos) / 1e9,
  notPricedCalls: sum.notPriced
})

/** The model a call names, as shown (`(no model)` when it names none). */
const modelOf = (call: Call): string => call.model ?? "(no model)"

const entry = <K>(map: Map<K, Sum>, key: K): Sum => {
  let found = map.get(key)
  if (found === undefined) map.set(key, found = zero())
  return found
}

/**
 * Why a call is not priced again: the table has no price for its model (or it names none), or it
 * recorded no usage (no tokens and an unknown cost: it ended before the provider reported usage).
 */
type NotPricedReason = "NoPrice" | "NoUsage"

/** The new cost of a call, or why it has none. */
const repriceCall = (table: Pricing.PriceTable, call: Call): Either.Either<bigint, NotPricedReason> => {
  if (call.costUsd === null && (call.tokensUsed ?? 0) === 0 && (call.inputTokens ?? 0) === 0 && (call.outputTokens ?? 0) === 0) {
    return Either.left("NoUsage")
  }
  const price = call.model == null ? Option.none() : Pricing.lookup(table, call.model)
  return Option.match(price, {
    onNone: () => Either.left("NoPrice"),
    onSome: (p) => Either.right(Pricing.costNanos(p, call))
  })
}

/**
 * The report of `usage --prices`: per project its models and runs, the total, and the calls not
 * priced again (by model and reason) with their runs.
 */
export const report = (file: string, table: Pricing.PriceTable, projects: ReadonlyArray<ProjectCalls>) => {
  const total = zero()
  const notPriced = new Map<string, { model: string; reason: NotPricedReason; calls: number; runs: Set<string> }>()
  const perProject = projects.map(({ project, runs, truncated }) => {
    const sum = zero()
    const models = new Map<string, Sum>()
    const perRun = runs.map(({ calls, run }) => {
      const runSum = zero()
      for (const call of calls) {
        const model = modelOf(call)
        const repriced = repriceCall(table, call)
        for (const s of [runSum, sum, total, entry(models, model)]) add(s, call, Either.getRight(repriced))
        if (Either.isLeft(repriced)) {
          const key = `${repriced.left} ${model}`
          let missing = notPriced.get(key)
          if (missing === undefined) notPriced.set(key, missing = { model, reason: repriced.left, calls: 0, runs: new Set() })
          missing.calls += 1
          missing.runs.add(run.id)
        }
      }
      return { runId: run.id, name: run.name, ...line(runSum) }
    })
    return {
      project,
      truncated,
      ...line(sum),
      models: [...models].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([model, s]) => ({ model, ...line(s) })),
      runs: perRun
    }
  })
  return {
    prices: { file, date: table.date, source: table.source },
    ...line(total),
    projects: perProject,
    notPriced: [...notPriced.values()]
      .sort((a, b) => a.model < b.model ? -1 : a.model > b.model ? 1 : a.reason < b.reason ? -1 : 1)
      .map(({ calls, model, reason, runs }) => ({ model, reason, calls, runs: [...runs] }))
  }
}

/** The report of `usage --prices`. */
export type Report = ReturnType<typeof report>

/** `$0.0250`, `$0.0250 + 1 not priced`, `not priced` (never `$0` for what was not priced). */
const repricedText = (usd: number | null, notPricedCalls: number): string =>
  usd === null
    ? "not priced"
    : notPricedCalls === 0
    ? format.money(usd)
    : `${format.money(usd)} + ${format.count(notPricedCalls)} not priced`

const recordedText = (usd: number | null, unknown: number): string => format.totalCost(usd, unknown)

const plural = (n: number, word: string) => `${format.count(n)} ${word}${n === 1 ? "" : "s"}`

/** The report as text: a table per model, a table per run, the total, what was not priced. */
export const reportText = (r: Report): string => {
  const head = `Re-priced with the price table of ${r.prices.date} (${r.prices.file}); recorded costs are left as they are.`
  if (r.calls === 0) return `${head}\nNo model calls.`
  const costs = (l: Omit<Report, "prices" | "projects" | "notPriced">) => [
    recordedText(l.recordedUsd, l.recordedUnknownCalls),
    repricedText(l.repricedUsd, l.notPricedCalls)
  ]
  const models = format.table(
    ["PROJECT", "MODEL", "CALLS", "INPUT", "OUTPUT", "CACHED", "RECORDED", "RE-PRICED"],
    r.projects.flatMap((p) =>
      p.models.map((m) => [
        p.project,
        m.model,
        ...[m.calls, m.inputTokens, m.outputTokens, m.cachedInputTokens].map(format.count),
        ...costs(m)
      ])
    )
  )
  const runs = format.table(
    ["PROJECT", "RUN", "NAME", "CALLS", "RECORDED", "RE-PRICED"],
    r.projects.flatMap((p) => p.runs.map((run) => [p.project, run.runId, run.name, format.count(run.calls), ...costs(run)]))
  )
  const [recorded, repriced] = costs(r)
  const lines = [head, "", models, "", runs, "", `Total: ${plural(r.calls, "call")}; recorded ${recorded}, re-priced ${repriced}`]
  for (const missing of r.notPriced) {
    const what = `${missing.model === "(no model)" ? missing.model : `"${missing.model}"`} ` +
      `(${plural(missing.calls, "call")} in ${plural(missing.runs.length, "run")})`
    lines.push(
      missing.reason === "NoPrice"
        ? `Not priced by the table of ${r.prices.date}: ${what}`
        : `Not priced, no usage recorded: ${what}: it ended before the provider reported its usage`
    )
  }
  for (const p of r.projects.filter((p) => p.truncated)) {
    lines.push(`Project ${p.project} has ${format.count(maxRuns)} runs or more: only its newest ${format.count(maxRuns)} were re-priced.`)
  }
  return lines.join("\n")
}
