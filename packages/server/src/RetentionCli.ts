/**
 * The data-keeping commands of `multirun`: `gc` removes old runs (and surplus checkpoints) from
 * a SQLite file or PostgreSQL database and prints what it removed, `usage` prints what each
 * project stores, or (`--prices FILE`) its model calls re-priced with a newer price table. Errors
 * print one line and exit with code 1.
 *
 * @since 0.2.0
 */
import { Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import * as SqlClient from "@effect/sql/SqlClient"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { PgClientLayer, ProjectView, Retention, SqliteClientLayer, StoreUsage, UsageByDay } from "@multirun/sql"
import { Config, Console, Duration, Effect, Either, Option } from "effect"
import { withHelp } from "./internal/commandLine.js"
import * as format from "./internal/format.js"
import * as Repricing from "./internal/repricing.js"
import { askServer, lastDay, printDays } from "./internal/usageDays.js"
import * as RunSource from "./RunSource.js"
import { reportErrors } from "./RunsCli.js"

const db = Options.text("db").pipe(
  Options.withDescription(`SQLite file (default ${RunSource.defaultFilename})`),
  Options.optional
)
const databaseUrl = Options.text("database-url").pipe(Options.withDescription("PostgreSQL URL"), Options.optional)
const schema = Options.text("schema").pipe(Options.withDescription("PostgreSQL schema (default public)"), Options.optional)
const project = Options.text("project").pipe(
  Options.withDescription("only this project (default: every project of the database)"),
  Options.optional
)
/** A wrong option: reported as its message alone. */
class Failure extends Error {}

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))
const verbose = Options.boolean("verbose").pipe(Options.withDescription("print the whole cause of an error"))

interface DatabaseOptions {
  readonly db: Option.Option<string>
  readonly databaseUrl: Option.Option<string>
  readonly schema: Option.Option<string>
}

/** A file the system would not let us look at, as one line. */
const cannotRead = (filename: string) => (error: PlatformError) =>
  new Failure(`cannot read ${filename}: ${error.description ?? error.message}`)

/** The database of `--db` or `--database-url`, opened for writing; a SQLite file must exist. */
const database = (options: DatabaseOptions) =>
  Effect.gen(function*() {
    if (Option.isSome(options.db) && Option.isSome(options.databaseUrl)) {
      return yield* Effect.fail(new Failure("give either --db or --database-url, not both"))
    }
    if (Option.isSome(options.databaseUrl)) {
      const layer = PgClientLayer({ url: options.databaseUrl.value, schema: Option.getOrUndefined(options.schema) })
      return { layer, filename: undefined }
    }
    const filename = Option.getOrElse(options.db, () => RunSource.defaultFilename)
    const fs = yield* FileSystem.FileSystem
    if (!(yield* Effect.mapError(fs.exists(filename), cannotRead(filename)))) {
      return yield* Effect.fail(new Failure(`no database at ${filename} (give --db FILE or --database-url URL)`))
    }
    return { layer: SqliteClientLayer({ filename }), filename }
  })

const withDatabase = <A, E, R>(
  options: DatabaseOptions,
  body: (filename: string | undefined) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(database(options), ({ filename, layer }) => Effect.provide(body(filename), layer))

const statuses = (runs: Readonly<Record<string, number>>) =>
  Object.entries(runs).filter(([, n]) => n > 0).map(([status, n]) => `${format.count(n)} ${status}`).join(", ")

const removedLine = (removed: Retention.Removed, dryRun: boolean): string => {
  const runs = Object.values(removed.runs).reduce((a, b) => a + b, 0)
  return `project ${removed.project}: ${dryRun ? "would remove" : "removed"} ${format.count(runs)} run(s)` +
    `${runs === 0 ? "" : ` (${statuses(removed.runs)})`}, ${format.count(removed.agents)} agent(s), ` +
    `${format.count(removed.steps)} step(s), ${format.count(removed.checkpoints)} checkpoint(s), ` +
    `${format.bytes(removed.bytes)}`
}

/** The policy of gc's options: `--older-than` (default 30d) for `--status` (default every finished status), `--keep-last`. */
const policyOf = (options: {
  readonly olderThan: Option.Option<string>
  readonly status: ReadonlyArray<Retention.RemovableStatus>
  readonly keepLast: Option.Option<number>
}): Effect.Effect<Retention.Policy, Failure> => {
  const keepLast = Option.getOrUndefined(options.keepLast)
  if (keepLast !== undefined && keepLast < 1) {
    return Effect.fail(new Failure("--keep-last must be at least 1 (the checkpoint a resume needs)"))
  }
  // --keep-last alone prunes checkpoints and removes no run
  if (Option.isNone(options.olderThan) && keepLast !== undefined && options.status.length === 0) {
    return Effect.succeed({ keepLast })
  }
  const age = Retention.parseAge(Option.getOrElse(options.olderThan, () => "30d"))
  if (Either.isLeft(age)) return Effect.fail(new Failure(`--older-than: ${age.left}`))
  const chosen: ReadonlyArray<Retention.RemovableStatus> = options.status.length === 0
    ? Retention.finishedStatuses
    : options.status
  return Effect.succeed({ olderThan: Object.fromEntries(chosen.map((status) => [status, age.right])), keepLast })
}

/** The size of a SQLite file once its write-ahead log is written back into it. */
const fileSize = (filename: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA wal_checkpoint(TRUNCATE)`).pipe(
    Effect.zipRight(Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(filename))),
    Effect.map((info) => Number(info.size)),
    Effect.mapError((error) => error._tag === "SqlError" ? error : cannotRead(filename)(error))
  )

/**
 * `multirun gc [--db FILE | --database-url URL] [--older-than 30d] [--status S]... [--keep-last N]
 * [--project P] [--dry-run]`: removes the finished runs older than the age (of the given
 * statuses; default every finished status) with their agents, steps and checkpoints, keeps the
 * newest N checkpoints of each run, and prints what it removed per project; on a SQLite file,
 * gives the space back and prints the file's size before and after. `--status stalled` removes
 * the stalled runs (running, their owner gone) whose owner was last seen longer ago than the
 * age. A live running run is never removed, nor a run another kept run was forked from.
 *
 * @since 0.2.0
 */
export const gc = Command.make("gc", {
  db,
  databaseUrl,
  schema,
  project,
  verbose,
  json,
  olderThan: Options.text("older-than").pipe(
    Options.withDescription(
      "remove runs that ended (stalled runs: whose owner was last seen) longer ago than this (30d, 12h, 90m; default 30d)"
    ),
    Options.optional
  ),
  status: Options.choice("status", Retention.removableStatuses).pipe(
    Options.repeated,
    Options.withDescription(
      "only runs of this status (repeatable; default completed, failed and interrupted; stalled: running, owner gone)"
    )
  ),
  keepLast: Options.integer("keep-last").pipe(
    Options.withDescription("keep only the newest N checkpoints of each run (except checkpoints forked from)"),
    Options.optional
  ),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("print what would be removed, remove nothing"))
}, (options) =>
  Effect.flatMap(policyOf(options), (policy) =>
    withDatabase(options, (filename) =>
      Effect.gen(function*() {
        const before = filename === undefined ? undefined : yield* fileSize(filename)
        const reports = yield* Retention.apply(policy, {
          project: Option.getOrUndefined(options.project),
          dryRun: options.dryRun
        })
        if (!options.dryRun) yield* Retention.reclaimSpace
        const after = filename === undefined ? undefined : yield* fileSize(filename)
        if (options.json) {
          const fileBytes = { before, after }
          return yield* Console.log(JSON.stringify({ dryRun: options.dryRun, removed: reports, fileBytes }, null, 2))
        }
        if (reports.length === 0) yield* Console.log("No runs.")
        for (const report of reports) yield* Console.log(removedLine(report, options.dryRun))
        if (filename !== undefined) {
          yield* Console.log(`${filename}: ${format.bytes(before!)} before, ${format.bytes(after!)} after`)
        }
        if (options.dryRun) yield* Console.log("dry run: nothing was removed")
      }))).pipe(reportErrors(options.verbose))).pipe(
  withHelp("Remove old finished (or stalled) runs and surplus checkpoints; print what was removed", [
    "multirun gc --older-than 30d --dry-run",
    "multirun gc --status failed --older-than 7d --keep-last 5 --db .multirun/runs.db"
  ])
)

const url = Options.text("url").pipe(Options.withDescription("server URL (or MULTIRUN_URL)"), Options.optional)
const apiKey = Options.text("api-key").pipe(Options.withDescription("API key for --url (or MULTIRUN_API_KEY)"), Options.optional)

/** A variable of the environment, none when unset or empty. */
const env = (name: string) => Effect.map(Effect.orDie(Config.option(Config.string(name))), Option.filter((v) => v !== ""))

/** The key of `--api-key` or `MULTIRUN_API_KEY`. */
const keyOf = (key: Option.Option<string>) =>
  Effect.flatMap(Option.isSome(key) ? Effect.succeed(key) : env("MULTIRUN_API_KEY"), (given) =>
    Option.isNone(given)
      ? Effect.fail(new Failure("--url needs --api-key KEY (or MULTIRUN_API_KEY)"))
      : Effect.succeed(given.value))


const printUsage = (all: ReadonlyArray<StoreUsage.ProjectUsage>, asJson: boolean) =>
  Effect.gen(function*() {
    if (asJson) return yield* Console.log(JSON.stringify(all, null, 2))
    if (all.length === 0) return yield* Console.log("No runs.")
    const header = ["PROJECT", "RUNS", "RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "STEPS", "CHECKPOINTS", "BYTES"]
    yield* Console.log(format.table(
      header,
      all.map((u) => [
        u.project,
        format.count(Object.values(u.runs).reduce((a, b) => a + b, 0)),
        ...[u.runs.running, u.runs.completed, u.runs.failed, u.runs.interrupted, u.steps, u.checkpoints].map(format.count),
        format.bytes(u.bytes)
      ])
    ))
  })

const printRepriced = (report: Repricing.Report, asJson: boolean) =>
  Console.log(asJson ? JSON.stringify(report, null, 2) : Repricing.reportText(report))

/**
 * `multirun usage [--db FILE | --database-url URL | --url URL --api-key KEY] [--project P]
 * [--prices FILE] [--json]`: per project, runs by status, agents, steps, checkpoints and bytes
 * stored. A server answers for the key's project. With `--prices`, the stored `llm_call` steps
 * priced again with the JSON price table of FILE (the shape of @multirun/ai's
 * `Pricing.layer(table)`), per model, per run and in total, beside their recorded cost, and the
 * calls it cannot price (a model the table lacks, no usage recorded), never priced as 0; it only
 * reads (`--prices` since 0.3.0). With `--by day` (since 0.3.0), per UTC day of the last 30 (a
 * step counts on the day it started; `--until DAY` ends them on another day): runs, steps,
 * tokens and cost, and the most expensive runs and models.
 *
 * @since 0.2.0
 */
export const usage = Command.make(
  "usage",
  {
    db,
    databaseUrl,
    schema,
    project,
    url,
    apiKey,
    verbose,
    json,
    prices: Options.text("prices").pipe(
      Options.withDescription(
        "re-price the stored model calls with this JSON price table (the shape of Pricing.layer's table); reads only"
      ),
      Options.optional
    ),
    by: Options.choice("by", ["day"]).pipe(
      Options.withDescription("per UTC day of the last 30 (by step start): runs, steps, tokens, cost; top runs and models"),
      Options.optional
    ),
    until: Options.text("until").pipe(
      Options.withDescription("with --by day: the last UTC day of the 30, as YYYY-MM-DD (default: today)"),
      Options.optional
    )
  },
  (options) =>
    Effect.gen(function*() {
      // the price file is read first: a bad one fails before any database is opened
      if (Option.isSome(options.by) && Option.isSome(options.prices)) {
        return yield* Effect.fail(new Failure("give either --by day or --prices, not both"))
      }
      const until = yield* lastDay(options.until, Option.isSome(options.by))
      const prices = yield* Option.match(options.prices, {
        onNone: () => Effect.succeedNone,
        onSome: (file) => Effect.map(Repricing.readTable(file), (table) => Option.some({ file, table }))
      })
      const server = Option.isSome(options.url) || Option.isSome(options.db) || Option.isSome(options.databaseUrl)
        ? options.url
        : yield* env("MULTIRUN_URL")
      if (Option.isSome(server)) {
        if (Option.isSome(options.db) || Option.isSome(options.databaseUrl)) {
          return yield* Effect.fail(new Failure("give one of --db, --database-url and --url"))
        }
        const key = yield* keyOf(options.apiKey)
        if (Option.isSome(options.by)) {
          return yield* printDays([yield* askServer(server.value, key, (api) => api.usage.days({ urlParams: { until } }))], options.json)
        }
        const usage = yield* askServer(server.value, key, (api) => api.usage.usage())
        if (Option.isNone(prices)) return yield* printUsage([usage], options.json)
        const calls = yield* Repricing.projectCalls(usage.project).pipe(
          Effect.provide(RunSource.layer({ _tag: "Server", url: server.value, apiKey: key })),
          Effect.scoped
        )
        return yield* printRepriced(Repricing.report(prices.value.file, prices.value.table, [calls]), options.json)
      }
      return yield* withDatabase(options, () =>
        Effect.gen(function*() {
          if (Option.isSome(options.by)) {
            return yield* printDays(yield* UsageByDay.reports(Option.getOrUndefined(options.project), until), options.json)
          }
          const all = yield* StoreUsage.usage(Option.getOrUndefined(options.project))
          if (Option.isNone(prices)) return yield* printUsage(all, options.json)
          const calls = yield* Effect.forEach(all, ({ project }) =>
            Effect.provideServiceEffect(Repricing.projectCalls(project), MultiRunClient, ProjectView.make(project)))
          return yield* printRepriced(Repricing.report(prices.value.file, prices.value.table, calls), options.json)
        }))
    }).pipe(reportErrors(options.verbose))
).pipe(withHelp("Print what each project stores: runs by status, steps, checkpoints, bytes; or spends per day; or re-price its model calls", [
    "multirun usage --db .multirun/runs.db",
    "multirun usage --url https://runs.example.com --api-key $KEY --json",
    "multirun usage --db .multirun/runs.db --prices prices-2027-01.json",
    "multirun usage --by day --url https://runs.example.com --api-key $KEY",
    "multirun usage --by day --until 2026-11-30 --db .multirun/runs.db"
  ]))

/**
 * The retention policy of `multirun serve --retain completed=30d,failed=90d,keepLast=5`, with
 * `--retain-every` (default 60 minutes).
 *
 * @since 0.2.0
 */
export const serveOptions = {
  retain: Options.text("retain").pipe(
    Options.withDescription(
      "remove old runs of every project on a schedule, e.g. completed=30d,failed=90d,stalled=7d,keepLast=5"
    ),
    Options.optional
  ),
  retainEvery: Options.integer("retain-every").pipe(
    Options.withDescription("minutes between two passes of --retain (default 60)"),
    Options.withDefault(60)
  )
}

/**
 * Reads `--retain` and `--retain-every` into the server's retention option.
 *
 * @since 0.2.0
 */
export const retentionOf = (options: {
  readonly retain: Option.Option<string>
  readonly retainEvery: number
}): Effect.Effect<{ readonly policy: Retention.Policy; readonly every: Duration.Duration } | undefined, Error> =>
  Option.match(options.retain, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Either.match(Retention.parsePolicy(text), {
        onLeft: (message) => Effect.fail(new Failure(`--retain: ${message}`)),
        onRight: (policy) =>
          options.retainEvery < 1
            ? Effect.fail(new Failure("--retain-every: give at least 1 minute"))
            : Effect.succeed({ policy, every: Duration.minutes(options.retainEvery) })
      })
  })
