/**
 * The `multirun` command line: `multirun serve`, `multirun keys create`, the read commands
 * `runs` (of {@link RunsDiffCli}), `checkpoints` and `ui` of {@link RunsCli}, and `export`,
 * `import` and `push` of {@link ExportCli}.
 *
 * @since 0.1.0
 */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Clock, Console, Data, DateTime, Effect, Option } from "effect"
import * as ApiKeys from "./ApiKeys.js"
import * as Database from "./Database.js"
import * as ExportCli from "./ExportCli.js"
import { runCommand, withHelp } from "./internal/commandLine.js"
import * as format from "./internal/format.js"
import * as Limits from "./Limits.js"
import * as OutboxCli from "./OutboxCli.js"
import * as RetentionCli from "./RetentionCli.js"
import * as RunsCli from "./RunsCli.js"
import * as RunsDiffCli from "./RunsDiffCli.js"
import * as Server from "./Server.js"

const db = Options.file("db").pipe(
  Options.withDescription(`SQLite file of the server (default ${Database.defaultFilename})`),
  Options.optional
)
const databaseUrl = Options.text("database-url").pipe(
  Options.withDescription("PostgreSQL URL, e.g. postgres://user:pass@host:5432/multirun (instead of --db)"),
  Options.optional
)
const schema = Options.text("schema").pipe(
  Options.withDescription("PostgreSQL schema holding the tables (default public)"),
  Options.optional
)

/**
 * The command line was given options that do not go together.
 *
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** The database chosen by `--db`, `--database-url` and `--schema`. */
const database = (options: {
  readonly db: Option.Option<string>
  readonly databaseUrl: Option.Option<string>
  readonly schema: Option.Option<string>
}): Effect.Effect<Database.Options, UsageError> => {
  if (Option.isSome(options.db) && Option.isSome(options.databaseUrl)) {
    return Effect.fail(new UsageError({ message: "give either --db or --database-url, not both" }))
  }
  if (Option.isSome(options.databaseUrl)) {
    return Effect.succeed({ url: options.databaseUrl.value, schema: Option.getOrUndefined(options.schema) })
  }
  return Effect.succeed({ filename: Option.getOrElse(options.db, () => Database.defaultFilename) })
}

/**
 * `multirun serve [--db FILE | --database-url URL] [--port N] [--host H] [--max-body-bytes N]
 * [--max-pending-requests N] [--allowed-host NAME[:PORT],…]… [--retain completed=30d,failed=90d,keepLast=5 [--retain-every MINUTES]]`.
 *
 * @since 0.1.0
 */
export const serve = Command.make(
  "serve",
  {
    db,
    databaseUrl,
    schema,
    port: Options.integer("port").pipe(
      Options.withDefault(Server.defaultPort),
      Options.withDescription(`port to listen on (default ${Server.defaultPort})`)
    ),
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    ),
    maxBodyBytes: Options.integer("max-body-bytes").pipe(
      Options.withDefault(Limits.defaultMaxBodyBytes),
      Options.withDescription(`largest request body accepted; larger ones answer 413 (default ${Limits.defaultMaxBodyBytes})`)
    ),
    maxPendingRequests: Options.integer("max-pending-requests").pipe(
      Options.withDefault(Server.defaultMaxPendingRequests),
      Options.withDescription(
        "API requests in progress at once (served or waiting for the database); beyond, 503 with Retry-After"
      )
    ),
    allowedHost: Options.text("allowed-host").pipe(
      Options.repeated,
      Options.withDescription(
        "a Host the server answers (name, or name:port; repeat or separate with commas); others get 421. Default: any"
      )
    ),
    ...RetentionCli.serveOptions
  },
  (options) =>
    Effect.gen(function*() {
      const address = yield* Server.serve({
        database: yield* database(options),
        port: options.port,
        host: options.host,
        maxBodyBytes: options.maxBodyBytes,
        maxPendingRequests: options.maxPendingRequests,
        logRequests: true,
        retention: yield* RetentionCli.retentionOf(options),
        allowedHosts: options.allowedHost.flatMap((hosts) => hosts.split(",")).map((host) => host.trim())
          .filter((host) => host !== "")
      })
      yield* Console.log(`multirun server listening on ${address.url} (viewer ${address.url}/, docs ${address.url}/docs)`)
      return yield* Effect.never
    }).pipe(Effect.scoped, RunsCli.reportErrors(false, { port: options.port }))
).pipe(withHelp("Serve the multirun HTTP API, the run viewer and the API docs", [
  "multirun serve --db .multirun/server.db --port 7420",
  "multirun serve --database-url postgres://user:pass@db:5432/multirun --host 0.0.0.0 --retain completed=30d"
]))

/**
 * `multirun keys create --project NAME [--db FILE | --database-url URL]`: prints a new key once.
 *
 * @since 0.1.0
 */
export const keysCreate = Command.make(
  "create",
  {
    project: Options.text("project").pipe(Options.withDescription("project the key belongs to")),
    expiresInDays: Options.integer("expires-in-days").pipe(
      Options.optional,
      Options.withDescription("refuse the key after this many days (default: never)")
    ),
    db,
    databaseUrl,
    schema
  },
  (options) =>
    Effect.gen(function*() {
      const expiry = Option.match(options.expiresInDays, {
        onNone: () => ({}),
        onSome: (days) => ({ expiresInMs: days * 86_400_000 })
      })
      const key = yield* ApiKeys.create(options.project, expiry).pipe(
        Effect.provide(Database.layer(yield* database(options)))
      )
      yield* Console.log(key)
      yield* Console.error(`API key for project "${options.project}" created; it is shown only this once.`)
    })
).pipe(withHelp("Create an API key for a project and print it (only its hash is stored)", [
  "multirun keys create --project research",
  "multirun keys create --project ci --expires-in-days 90 --database-url postgres://user:pass@db:5432/multirun"
]))

const noKey = (id: string) => new Error(`no live API key has the id ${id}; see \`multirun keys list\``)

const when = (millis: number | null): string => millis === null ? "-" : DateTime.formatIso(DateTime.unsafeMake(millis))

/**
 * `multirun keys list [--project NAME] [--json]`: every key's id, project, times and state; never a key.
 *
 * @since 0.2.0
 */
export const keysList = Command.make(
  "list",
  {
    project: Options.text("project").pipe(Options.optional, Options.withDescription("only this project's keys")),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON instead of text")),
    db,
    databaseUrl,
    schema
  },
  (options) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const keys = yield* ApiKeys.list(Option.getOrUndefined(options.project)).pipe(
        Effect.provide(Database.layer(yield* database(options)))
      )
      const rows = keys.map((key) => ({
        ...key,
        state: key.revokedAt !== null
          ? "revoked" as const
          : key.expiresAt !== null && key.expiresAt <= now
          ? "expired" as const
          : "active" as const
      }))
      if (options.json) return yield* Console.log(JSON.stringify(rows, null, 2))
      if (rows.length === 0) return yield* Console.log("No keys.")
      yield* Console.log(format.table(
        ["ID", "PROJECT", "CREATED", "EXPIRES", "LAST USED", "STATE"],
        rows.map((key) => [key.id, key.project, when(key.createdAt), when(key.expiresAt), when(key.lastUsedAt), key.state])
      ))
    })
).pipe(withHelp("List API keys: id, project, created, expires, last used, state", [
  "multirun keys list --project research",
  "multirun keys list --json"
]))

/**
 * `multirun keys revoke ID`: the next request with that key answers 401.
 *
 * @since 0.2.0
 */
export const keysRevoke = Command.make(
  "revoke",
  { id: Args.text({ name: "ID" }), db, databaseUrl, schema },
  (options) =>
    Effect.gen(function*() {
      const revoked = yield* ApiKeys.revoke(options.id).pipe(Effect.provide(Database.layer(yield* database(options))))
      if (Option.isNone(revoked)) return yield* Effect.fail(noKey(options.id))
      yield* Console.log(`revoked key ${options.id} of project "${revoked.value.project}"`)
    }).pipe(RunsCli.reportErrors(false))
).pipe(withHelp("Revoke an API key by id", ["multirun keys revoke KEY_ID"]))

/**
 * `multirun keys rotate ID`: prints a new key for the same project and revokes the old one.
 *
 * @since 0.2.0
 */
export const keysRotate = Command.make(
  "rotate",
  { id: Args.text({ name: "ID" }), db, databaseUrl, schema },
  (options) =>
    Effect.gen(function*() {
      const key = yield* ApiKeys.rotate(options.id).pipe(Effect.provide(Database.layer(yield* database(options))))
      if (Option.isNone(key)) return yield* Effect.fail(noKey(options.id))
      yield* Console.log(key.value)
      yield* Console.error(`key ${options.id} revoked; the new key is shown only this once.`)
    }).pipe(RunsCli.reportErrors(false))
).pipe(withHelp("Replace an API key: print a new one for its project and revoke the old one", [
  "multirun keys rotate KEY_ID"
]))

/**
 * `multirun keys`.
 *
 * @since 0.1.0
 */
export const keys = Command.make("keys").pipe(
  Command.withSubcommands([keysCreate, keysList, keysRevoke, keysRotate]),
  withHelp("Manage API keys", ["multirun keys create --project research", "multirun keys list"])
)

/**
 * The `multirun` command.
 *
 * @since 0.1.0
 */
export const command = Command.make("multirun").pipe(
  Command.withSubcommands([
    serve,
    keys,
    RunsDiffCli.runs,
    RunsCli.checkpoints,
    RunsCli.ui,
    ExportCli.exportRun,
    ExportCli.importRun,
    ExportCli.push,
    RetentionCli.gc,
    RetentionCli.usage,
    OutboxCli.outbox
  ]),
  withHelp("Track multi-agent AI runs: serve them, look at them, move them, keep them small", [
    "multirun ui --db .multirun/runs.db",
    "multirun runs list --status failed"
  ])
)

/**
 * Parses the arguments (`process.argv`) and runs the command. `--help` (or `-h`) prints the
 * help of the command before it, with examples; an argument error prints one line and where to
 * find the usage, and sets exit code 2. Colour only on a terminal, never under `NO_COLOR`.
 *
 * @since 0.1.0
 */
export const run = runCommand(command, { name: "multirun", version: Server.version })

/**
 * Runs the command line as the main program.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): void =>
  run(argv).pipe(
    Effect.catchTag("UsageError", (error) =>
      Effect.zipRight(Console.error(`multirun: ${error.message}`), Effect.sync(() => void (process.exitCode = 2)))),
    // @effect/cli printed the error already
    Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => void (process.exitCode = 2))),
    Effect.provide(NodeContext.layer),
    NodeRuntime.runMain
  )
