/**
 * The read commands of `multirun`: `runs list|show` (grouped with `runs diff` in `RunsDiffCli`),
 * `checkpoints list|diff` and `ui`, each on a local SQLite file (`--db`, default
 * `.multirun/runs.db`, read-only), PostgreSQL (`--database-url`) or a server (`--url` with
 * `--api-key`, or `MULTIRUN_URL` and `MULTIRUN_API_KEY`). Errors print one line and exit with
 * code 1 (`--verbose` adds the cause).
 *
 * @since 0.2.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Cause, Clock, Config, Console, Effect, Option } from "effect"
import { withHelp } from "./internal/commandLine.js"
import * as format from "./internal/format.js"
import { stateValue, statusOf, wallMs } from "./internal/runModel.js"
import * as Local from "./Local.js"
import * as RunSource from "./RunSource.js"
import * as RunTree from "./RunTree.js"

const db = Options.text("db").pipe(
  Options.withDescription(`SQLite file to read, opened read-only (default ${RunSource.defaultFilename})`),
  Options.optional
)
const databaseUrl = Options.text("database-url").pipe(Options.withDescription("PostgreSQL URL to read"), Options.optional)
const schema = Options.text("schema").pipe(Options.withDescription("PostgreSQL schema (default public)"), Options.optional)
const project = Options.text("project").pipe(
  Options.withDescription("project to read in a database (default \"default\", where Sqlite.layer writes)"),
  Options.optional
)
const url = Options.text("url").pipe(Options.withDescription("server URL (or MULTIRUN_URL)"), Options.optional)
const apiKey = Options.text("api-key").pipe(Options.withDescription("API key for --url (or MULTIRUN_API_KEY)"), Options.optional)
/**
 * `--json`: print JSON instead of text.
 *
 * @since 0.3.0
 */
export const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))
const verbose = Options.boolean("verbose").pipe(Options.withDescription("print the whole cause of an error"))
/**
 * The options that choose a source (`--db`, `--database-url`, `--schema`, `--project`, `--url`,
 * `--api-key`) and `--verbose`, shared by the commands that read or write runs.
 *
 * @since 0.2.0
 */
export const source = { db, databaseUrl, schema, project, url, apiKey, verbose }

/**
 * The values of the {@link source} options.
 *
 * @since 0.2.0
 */
export type SourceOptions = {
  readonly [K in keyof Omit<typeof source, "verbose">]: Option.Option<string>
}

/** A failure that is reported as its message alone. */
class Failure extends Error {}

/**
 * The source chosen by the options and the environment (`MULTIRUN_URL`, `MULTIRUN_API_KEY`):
 * the server of `--url`, PostgreSQL of `--database-url`, else the SQLite file of `--db`
 * (default `.multirun/runs.db`).
 *
 * @since 0.2.0
 */
export const sourceOf = (options: SourceOptions): Effect.Effect<RunSource.Source, RunSource.SourceError> =>
  Effect.gen(function*(): Effect.fn.Return<RunSource.Source, RunSource.SourceError> {
    // an empty variable counts as unset
    const envUrl = Option.filter(yield* Effect.orDie(Config.option(Config.string("MULTIRUN_URL"))), (v) => v !== "")
    const envKey = Option.filter(yield* Effect.orDie(Config.option(Config.string("MULTIRUN_API_KEY"))), (v) => v !== "")
    const given = [options.db, options.databaseUrl, options.url].filter(Option.isSome).length
    if (given > 1) return yield* Effect.fail(new RunSource.SourceError({ message: "give one of --db, --database-url and --url" }))
    const projectName = Option.getOrUndefined(options.project)
    if (Option.isSome(options.databaseUrl)) {
      return { _tag: "Postgres", url: options.databaseUrl.value, schema: Option.getOrUndefined(options.schema), project: projectName }
    }
    const server = Option.orElse(options.url, () => Option.isSome(options.db) ? Option.none() : envUrl)
    if (Option.isSome(server)) {
      const key = Option.orElse(options.apiKey, () => envKey)
      if (Option.isNone(key)) {
        return yield* Effect.fail(new RunSource.SourceError({ message: "--url needs --api-key KEY (or MULTIRUN_API_KEY)" }))
      }
      return { _tag: "Server", url: server.value, apiKey: key.value }
    }
    return { _tag: "Sqlite", filename: Option.getOrElse(options.db, () => RunSource.defaultFilename), project: projectName }
  })

/**
 * What {@link reportErrors} adds to a message: the port `port N is in use` names, and the options
 * that choose another source when a SQLite file is missing (default: `--db`, `--database-url`
 * and `--url`).
 *
 * @since 0.2.0
 */
export interface Hints {
  readonly port?: number | undefined
  readonly missingFile?: string | undefined
}

const describe = (error: unknown, hints: Hints): string => {
  if (error instanceof Error || (typeof error === "object" && error !== null && "message" in error)) {
    const e = error as { readonly _tag?: string; readonly message: string; readonly cause?: { readonly code?: string } }
    if (e._tag === "ServeError" && e.cause?.code === "EADDRINUSE") return `port ${hints.port ?? "?"} is in use`
    if (e._tag === "BackendError") {
      const { detail, location } = error as { readonly detail?: string; readonly location?: string }
      return `cannot read runs: ${(detail ?? e.message).split("\n")[0]}${location === undefined ? "" : ` (${location})`}`
    }
    if (e._tag === "SourceError" && (error as RunSource.SourceError).missingFile !== undefined) {
      return `${e.message} (${hints.missingFile ?? "give --db FILE, --database-url URL or --url URL"})`
    }
    return e.message.split("\n")[0]!
  }
  return String(error)
}

/**
 * Runs a command's effect: a failure or defect prints `multirun: MESSAGE` (with the full cause
 * when `verbose`) and sets exit code 1, with the {@link Hints} a message needs.
 *
 * @since 0.2.0
 */
export const reportErrors = (verbose: boolean, hints: Hints = {}) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.catchAllCause(self, (cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause) as Effect.Effect<never>
    const failure = Cause.squash(cause)
    if ((failure as { readonly _tag?: string })._tag === "UsageError") return Effect.failCause(cause) as Effect.Effect<never>
    return Console.error(`multirun: ${describe(failure, hints)}`).pipe(
      Effect.zipRight(verbose ? Console.error(Cause.pretty(cause)) : Effect.void),
      Effect.zipRight(Effect.sync(() => void (process.exitCode = 1)))
    )
  })

/**
 * Runs `body` with the backend of the chosen source, reporting errors.
 *
 * @since 0.3.0
 */
export const withSource = <A, E>(
  options: SourceOptions & { readonly verbose: boolean },
  body: Effect.Effect<A, E, MultiRunClient | Checkpoints>
) =>
  Effect.flatMap(sourceOf(options), (chosen) => Effect.provide(body, RunSource.layer(chosen))).pipe(
    Effect.scoped,
    reportErrors(options.verbose)
  )

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const runNotFound = (runId: string) => new Failure(`run ${runId} not found`)

const getRun = (runId: string) =>
  Effect.flatMap(MultiRunClient, (client) => client.getRun(runId)).pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail(runNotFound(runId)), onSome: Effect.succeed }))
  )

/**
 * `multirun runs list [--status S] [--name N] [--tag T] [--limit N] [--json]`. A stalled run
 * (running, its owner gone) shows `stalled`, its wall time up to its owner's last sighting, and a
 * line under the table with that sighting and how to resume it; `--status stalled` lists only
 * those, `--status running` only the live ones. `DRIFT` counts the calls replay found with a
 * changed input (`⚠ 1`, empty when none).
 *
 * @since 0.2.0
 */
export const runsList = Command.make("list", {
  ...source,
  json,
  status: Options.choice("status", ["running", "stalled", "completed", "failed", "interrupted"]).pipe(
    Options.withDescription("runs of this status (stalled: running, with its owner gone)"),
    Options.optional
  ),
  name: Options.text("name").pipe(Options.withDescription("runs of this name"), Options.optional),
  tag: Options.text("tag").pipe(Options.withDescription("runs with this tag"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withDefault(20), Options.withDescription("at most this many runs, newest first (default 20)"))
}, (options) =>
  withSource(
    options,
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const runs = yield* client.listRuns({
        status: Option.getOrUndefined(options.status),
        name: Option.getOrUndefined(options.name),
        tag: Option.getOrUndefined(options.tag),
        limit: Math.max(1, Math.min(10_000, options.limit))
      })
      if (options.json) return yield* printJson(runs)
      if (runs.length === 0) return yield* Console.log("No runs.")
      const now = yield* Clock.currentTimeMillis
      yield* Console.log(format.table(
        ["ID", "NAME", "STATUS", "STARTED", "WALL", "STEPS", "TOKENS", "COST", "DRIFT", "PARENT"],
        runs.map((run) => [
          run.id,
          run.name,
          statusOf(run),
          format.timestamp(run.startedAt),
          format.duration(wallMs(run, now)),
          `${format.count(run.stepCount)}${run.inherited == null ? "" : ` (+${format.count(run.inherited.stepCount)} inherited)`}`,
          format.count(run.tokensUsed),
          format.totalCost(run.costUsd, run.unpricedSteps),
          run.drifts === undefined || run.drifts === 0 ? "" : `⚠ ${format.count(run.drifts)}`,
          run.parentRunId === null ? "" : `fork of ${run.parentRunId}`
        ])
      ))
      const stalled = runs.filter((run) => run.stalled !== undefined)
      if (stalled.length > 0) {
        yield* Console.log(["", ...stalled.map((run) => `${run.id} ${RunTree.stalledLine(run, now)}`)].join("\n"))
      }
    })
  )).pipe(withHelp("List runs, newest first", [
    "multirun runs list --status failed --limit 10",
    "multirun runs list --url https://runs.example.com --api-key $KEY --json"
  ]))

/**
 * `multirun runs show RUN_ID [--all] [--json]`: the run tree (see `RunTree.render`); `--json`
 * prints the records as stored: the run, its agents, steps (with `parentId` and `drift` when
 * set, and errors with `kind` and `data`) and checkpoints.
 *
 * @since 0.2.0
 */
export const runsShow = Command.make("show", {
  ...source,
  json,
  runId: Args.text({ name: "RUN_ID" }),
  all: Options.boolean("all").pipe(Options.withDescription("print every step (default: 50 per agent attempt)"))
}, (options) =>
  withSource(
    options,
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const run = yield* getRun(options.runId)
      const [agents, steps, checkpoints] = yield* Effect.all([
        client.listAgents(run.id),
        client.listSteps(run.id),
        client.listCheckpoints(run.id)
      ])
      if (options.json) return yield* printJson({ run, agents, steps, checkpoints })
      const now = yield* Clock.currentTimeMillis
      const lines = RunTree.render({ run, agents, steps, checkpoints }, {
        now,
        maxStepsPerAgent: options.all ? undefined : 50
      })
      yield* Console.log(lines.join("\n"))
    })
  )).pipe(withHelp("Print a run as a tree: agents, attempts, steps, totals", [
    "multirun runs show RUN_ID",
    "multirun runs show RUN_ID --all --db .multirun/runs.db"
  ]))

/**
 * `multirun checkpoints list RUN_ID [--json]`.
 *
 * @since 0.2.0
 */
export const checkpointsList = Command.make("list", { ...source, json, runId: Args.text({ name: "RUN_ID" }) }, (options) =>
  withSource(
    options,
    Effect.gen(function*() {
      const run = yield* getRun(options.runId)
      const all = yield* Effect.flatMap(MultiRunClient, (client) => client.listCheckpoints(run.id))
      if (options.json) return yield* printJson(all)
      if (all.length === 0) return yield* Console.log(`Run ${run.id} has no checkpoints.`)
      const covered = (ranges: ReadonlyArray<readonly [number, number]>) => ranges.reduce((n, [a, b]) => n + b - a, 0)
      yield* Console.log(format.table(
        ["VERSION", "NAME", "ID", "CREATED", "STEPS", "TOKENS", "COST", "STATE KEYS"],
        all.map((c) => [
          `v${c.version}`,
          c.name,
          c.id,
          `${format.timestamp(c.createdAt)} (+${format.duration(c.createdAt - run.startedAt)})`,
          format.count(covered(c.covered)),
          format.count(c.tokensUsed),
          format.totalCost(c.costUsd, c.unpricedSteps),
          String(Object.keys(c.runState).length + c.agents.reduce((n, a) => n + Object.keys(a.state).length, 0))
        ])
      ))
    })
  )).pipe(withHelp("List the checkpoints of a run", [
    "multirun checkpoints list RUN_ID",
    "multirun checkpoints list RUN_ID --json"
  ]))

const show = (value: unknown) => value === undefined ? "(absent)" : JSON.stringify(value)

/**
 * `multirun checkpoints diff A B [--json]`: state keys added, removed and changed (with both
 * values), and the steps completed between the two.
 *
 * @since 0.2.0
 */
export const checkpointsDiff = Command.make("diff", {
  ...source,
  json,
  from: Args.text({ name: "A" }),
  to: Args.text({ name: "B" })
}, (options) =>
  withSource(
    options,
    Effect.gen(function*() {
      const checkpoints = yield* Checkpoints
      const [diff, a, b] = yield* Effect.all([
        checkpoints.diff(options.from, options.to),
        checkpoints.get(options.from),
        checkpoints.get(options.to)
      ])
      const added = diff.added.map((key) => ({ key, after: stateValue(b, key) }))
      const removed = diff.removed.map((key) => ({ key, before: stateValue(a, key) }))
      const changed = diff.changed.map((key) => ({ key, before: stateValue(a, key), after: stateValue(b, key) }))
      const steps = diff.steps.map((s) => ({ seq: s.seq, name: s.name, kind: s.kind, status: s.status, replayed: s.replayed }))
      if (options.json) return yield* printJson({ from: a.id, to: b.id, added, removed, changed, steps })
      const lines = [
        `from v${a.version} "${a.name}" (${a.id})`,
        `to   v${b.version} "${b.name}" (${b.id})`,
        ...added.map((d) => `+ ${d.key} = ${show(d.after)}`),
        ...removed.map((d) => `- ${d.key} (was ${show(d.before)})`),
        ...changed.map((d) => `~ ${d.key}: ${show(d.before)} → ${show(d.after)}`),
        added.length + removed.length + changed.length === 0 ? "no state changed" : "",
        `${steps.length} step(s) completed between:`,
        ...steps.map((s) => `  #${s.seq} ${s.name} (${s.kind})${s.replayed ? "  ↺ replayed" : ""}`)
      ]
      yield* Console.log(lines.filter((line) => line !== "").join("\n"))
    })
  )).pipe(withHelp("Compare two checkpoints: state added, removed, changed; steps between", [
    "multirun checkpoints diff CHECKPOINT_A CHECKPOINT_B"
  ]))

/**
 * `multirun checkpoints`.
 *
 * @since 0.2.0
 */
export const checkpoints = Command.make("checkpoints").pipe(
  Command.withSubcommands([checkpointsList, checkpointsDiff]),
  withHelp("List and compare checkpoints", [
    "multirun checkpoints list RUN_ID",
    "multirun checkpoints diff CHECKPOINT_A CHECKPOINT_B"
  ])
)

/**
 * `multirun ui [--db FILE] [--port N]`: the run viewer over a local SQLite file, read-only, no
 * key, on 127.0.0.1.
 *
 * @since 0.2.0
 */
export const ui = Command.make("ui", {
  db: Options.text("db").pipe(
    Options.withDefault(RunSource.defaultFilename),
    Options.withDescription(`SQLite file to show (default ${RunSource.defaultFilename})`)
  ),
  port: Options.integer("port").pipe(
    Options.withDefault(Local.defaultPort),
    Options.withDescription(`port on 127.0.0.1 (default ${Local.defaultPort})`)
  ),
  project,
  verbose
}, (options) =>
  Effect.gen(function*() {
    const { url: address } = yield* Local.serve({
      filename: options.db,
      port: options.port,
      project: Option.getOrUndefined(options.project),
      logRequests: true
    })
    yield* Console.log(`multirun ui: ${address}/ (read-only view of ${options.db}; Ctrl-C stops)`)
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    reportErrors(options.verbose, { port: options.port, missingFile: "give --db FILE, the SQLite file your program writes" })
  )).pipe(
    withHelp("Serve the run viewer over a local SQLite file (read-only, no key, 127.0.0.1)", [
    "multirun ui",
    "multirun ui --db .multirun/demo.db --port 8080"
  ])
  )
