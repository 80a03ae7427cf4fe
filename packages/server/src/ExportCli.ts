/**
 * The commands that move runs between stores: `multirun export RUN_ID > run.jsonl`,
 * `multirun import FILE` and `multirun push`, over core's {@link RunExport} format. Each works
 * on `--db`, `--database-url` or `--url` with `--api-key`, like the read commands of
 * {@link RunsCli}; `push` reads a local SQLite file and writes to a server.
 *
 * @since 0.2.0
 */
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import type { BackendError } from "@multirun/core/Errors"
import { MultiRunClient, type MultiRunClientService } from "@multirun/core/MultiRunClient"
import * as RunExport from "@multirun/core/RunExport"
import { Console, Context, Data, DateTime, Effect, Layer, Option } from "effect"
import { withHelp } from "./internal/commandLine.js"
import * as RunSource from "./RunSource.js"
import * as RunsCli from "./RunsCli.js"

/**
 * A command could not do what it was asked; the message says why and what to do.
 *
 * @since 0.2.0
 */
export class TransferError extends Data.TaggedError("TransferError")<{ readonly message: string }> {}

/** The backend service of a layer, built in the current scope. */
const clientOf = <E>(layer: Layer.Layer<MultiRunClient, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, MultiRunClient))

/** The records of a summary, by kind, for one line of output. */
const describe = (summaries: ReadonlyArray<RunExport.Summary>): string => {
  const total = (kind: "runs" | "agents" | "steps" | "checkpoints", field: keyof RunExport.Counts) =>
    summaries.reduce((n, summary) => n + summary[kind][field], 0)
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
  const records = ["runs", "agents", "steps", "checkpoints"] as const
  const stored = records.reduce((n, kind) => n + total(kind, "records") - total(kind, "written"), 0)
  return `wrote ${plural(total("runs", "written"), "run")}, ${plural(total("agents", "written"), "agent")}, ` +
    `${plural(total("steps", "written"), "step")}, ${plural(total("checkpoints", "written"), "checkpoint")}; ` +
    `${plural(stored, "record")} already stored`
}

/** A backend failure while writing, as one line naming what was written and where. */
const cannotWrite = (what: string) => (error: BackendError) =>
  Effect.fail(
    new TransferError({
      message: `cannot write ${what}: ${error.detail.split("\n")[0]}${error.location === undefined ? "" : ` (${error.location})`}`
    })
  )

/** Writes a run; a checkpoint conflict (whose message names the run) is reported as it is. */
const write = (client: MultiRunClientService, data: RunExport.RunData) =>
  RunExport.write(client, data).pipe(
    Effect.catchTag("ImportError", (error) => Effect.fail(new TransferError({ message: error.message }))),
    Effect.catchTag("BackendError", cannotWrite(`run ${data.run.id}`))
  )

/** The store to write to, opened in the current scope. */
const target = (source: RunSource.Source) =>
  clientOf(RunSource.layerWritable(source)).pipe(Effect.catchTag("BackendError", cannotWrite("runs")))

/** Writes text to stdout and waits until it is handed to the system. */
const writeStdout = (text: string) =>
  Effect.async<void>((resume) => void process.stdout.write(text, () => resume(Effect.void)))

/**
 * `multirun export RUN_ID [--db FILE | --database-url URL | --url URL --api-key KEY]`: prints the
 * run with its agents, steps and checkpoints as JSON lines (redirect it to a file).
 *
 * @since 0.2.0
 */
export const exportRun = Command.make("export", { ...RunsCli.source, runId: Args.text({ name: "RUN_ID" }) }, (options) =>
  Effect.gen(function*() {
    const client = yield* clientOf(RunSource.layer(yield* RunsCli.sourceOf(options)))
    const data = yield* RunExport.read(client, options.runId)
    if (Option.isNone(data)) return yield* new TransferError({ message: `run ${options.runId} not found` })
    yield* writeStdout(RunExport.encode(data.value))
  }).pipe(Effect.scoped, RunsCli.reportErrors(options.verbose))).pipe(
    withHelp("Print a run with its agents, steps and checkpoints as JSON lines (> run.jsonl)", [
    "multirun export RUN_ID > run.jsonl",
    "multirun export RUN_ID --url https://runs.example.com --api-key $KEY > run.jsonl"
  ])
  )

/**
 * `multirun import FILE [--db FILE | --database-url URL | --url URL --api-key KEY]`: loads an
 * export into a store; importing a file twice stores it once.
 *
 * @since 0.2.0
 */
export const importRun = Command.make("import", { ...RunsCli.source, file: Args.text({ name: "FILE" }) }, (options) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(options.file).pipe(
      Effect.mapError((error) => new TransferError({ message: `cannot read ${options.file}: ${error.description ?? error.message}` }))
    )
    const data = yield* RunExport.decode(text).pipe(
      Effect.mapError((error) => new TransferError({ message: `${options.file}: ${error.message}` }))
    )
    const client = yield* target(yield* RunsCli.sourceOf(options))
    const summary = yield* write(client, data)
    yield* Console.log(`imported run ${summary.runId}: ${describe([summary])}`)
  }).pipe(Effect.scoped, RunsCli.reportErrors(options.verbose))).pipe(
    withHelp("Load a run exported by `multirun export` into a store (importing twice stores once)", [
    "multirun import run.jsonl --db .multirun/runs.db",
    "multirun import run.jsonl --url https://runs.example.com --api-key $KEY"
  ])
  )

/** Milliseconds of a date (`2026-01-31`) or date and time (`2026-01-31T12:00:00Z`). */
const parseDate = (text: string) =>
  Option.match(DateTime.make(text), {
    onNone: () => Effect.fail(new TransferError({ message: `--since ${text} is not a date; give e.g. 2026-01-31 or 2026-01-31T12:00:00Z` })),
    onSome: (date) => Effect.succeed(DateTime.toEpochMillis(date))
  })

/** At most this many runs are pushed at once (the newest), the most `listRuns` returns. */
const maxRuns = 10_000

/**
 * `multirun push [--db FILE] --url URL --api-key KEY [--run ID | --since DATE]`: uploads the
 * runs of a local SQLite file (with agents, steps and checkpoints) to a server through its
 * ingest, idempotently: pushing twice stores once, and a run resumed on the server is not moved
 * back. Prints a line per run and the totals.
 *
 * @since 0.2.0
 */
export const push = Command.make("push", {
  db: Options.text("db").pipe(
    Options.withDefault(RunSource.defaultFilename),
    Options.withDescription(`local SQLite file to push from, opened read-only (default ${RunSource.defaultFilename})`)
  ),
  project: RunsCli.source.project,
  url: RunsCli.source.url,
  apiKey: RunsCli.source.apiKey,
  verbose: RunsCli.source.verbose,
  run: Options.text("run").pipe(Options.withDescription("push only this run"), Options.optional),
  since: Options.text("since").pipe(
    Options.withDescription("push only runs started at or after this date (2026-01-31 or an ISO time)"),
    Options.optional
  )
}, (options) =>
  Effect.gen(function*() {
    if (Option.isSome(options.run) && Option.isSome(options.since)) {
      return yield* new TransferError({ message: "give either --run or --since, not both" })
    }
    const server = yield* RunsCli.sourceOf({
      db: Option.none(),
      databaseUrl: Option.none(),
      schema: Option.none(),
      project: Option.none(),
      url: options.url,
      apiKey: options.apiKey
    })
    if (server._tag !== "Server") {
      return yield* new TransferError({ message: "push needs --url URL --api-key KEY (or MULTIRUN_URL and MULTIRUN_API_KEY)" })
    }
    const since = yield* Option.match(options.since, { onNone: () => Effect.succeed(0), onSome: parseDate })
    const local = yield* clientOf(
      RunSource.layer({ _tag: "Sqlite", filename: options.db, project: Option.getOrUndefined(options.project) })
    )
    const runIds = yield* Option.match(options.run, {
      onSome: (runId) =>
        Effect.flatMap(local.getRun(runId), (run) =>
          Option.isSome(run)
            ? Effect.succeed([runId])
            : Effect.fail(new TransferError({ message: `run ${runId} not found in ${options.db}` }))),
      onNone: () =>
        Effect.map(local.listRuns({ limit: maxRuns }), (runs) => runs.filter((run) => run.startedAt >= since).map((run) => run.id).reverse())
    })
    if (runIds.length === 0) return yield* Console.log(`No runs to push from ${options.db}.`)
    const remote = yield* target(server)
    const summaries: Array<RunExport.Summary> = []
    for (const runId of runIds) {
      const data = yield* RunExport.read(local, runId)
      if (Option.isNone(data)) return yield* new TransferError({ message: `run ${runId} not found in ${options.db}` })
      const summary = yield* write(remote, data.value)
      summaries.push(summary)
      yield* Console.log(`pushed run ${runId} (${data.value.run.name}): ${describe([summary])}`)
    }
    yield* Console.log(`pushed ${summaries.length} run(s) to ${server.url}: ${describe(summaries)}`)
  }).pipe(Effect.scoped, RunsCli.reportErrors(options.verbose, { missingFile: "give --db FILE" }))).pipe(
    withHelp("Upload local runs (agents, steps, checkpoints) to a server; pushing twice stores once", [
    "multirun push --url https://runs.example.com --api-key $KEY",
    "multirun push --run RUN_ID --url https://runs.example.com --api-key $KEY"
  ])
  )
