/**
 * `multirun outbox list|retry|drop --file F`: look at and act on what a client's durable outbox
 * (`SqliteOutbox`, default `.multirun/outbox.db`) holds: records waiting for their server, and
 * records set aside because the server refused them or kept failing on them. `retry` puts records
 * back in the queue (and with `--url` and `--api-key` sends them now, to the key's project);
 * `drop` deletes them. Errors print one line and exit with code 1.
 *
 * @since 0.3.0
 */
import { Command, Options } from "@effect/cli"
import { MultiRunClient, Remote } from "@multirun/core"
import { HttpApiClientFor } from "@multirun/core/RemoteLayer"
import * as SqliteOutbox from "@multirun/sql/SqliteOutbox"
import { FetchHttpClient } from "@effect/platform"
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { withHelp } from "./internal/commandLine.js"
import { reportErrors } from "./RunsCli.js"

const file = Options.text("file").pipe(
  Options.withDescription(`the outbox file (default ${SqliteOutbox.defaultFilename})`),
  Options.withDefault(SqliteOutbox.defaultFilename)
)
const ids = Options.text("id").pipe(
  Options.repeated,
  Options.withDescription("only the record of this event id (repeat for more)")
)
const target = Options.text("target").pipe(
  Options.optional,
  Options.withDescription("every record of this target (e.g. project:NAME), waiting or set aside")
)

const selectionOf = (options: { readonly id: ReadonlyArray<string>; readonly target: Option.Option<string> }) => ({
  eventIds: options.id,
  target: Option.getOrUndefined(options.target)
})

/**
 * `multirun outbox list [--file F]`: one line per record: event id, target, state (pending, held
 * by a live process, set aside), the record, and why it was set aside.
 *
 * @since 0.3.0
 */
export const list = Command.make("list", { file }, (options) =>
  Effect.gen(function*() {
    const entries = yield* SqliteOutbox.entries(options.file)
    if (entries.length === 0) return yield* Console.log(`the outbox ${options.file} is empty`)
    yield* Console.log(["event", "target", "state", "record", "reason"].join("\t"))
    for (const entry of entries) {
      yield* Console.log([entry.eventId, entry.target, entry.state, entry.record, entry.reason ?? ""].join("\t"))
    }
    const aside = entries.filter((entry) => entry.state === "set aside").length
    yield* Console.log(
      `${entries.length} record(s), ${aside} set aside; \`multirun outbox retry\` sends them again, ` +
        "`multirun outbox drop` deletes them"
    )
  }).pipe(reportErrors(false))).pipe(
    withHelp("List the records of a client's outbox: waiting, held by a live process, or set aside", [
      "multirun outbox list",
      "multirun outbox list --file .multirun/outbox.db"
    ])
  )

/**
 * `multirun outbox retry [--file F] [--id ID]… [--target T] [--url U --api-key K]`: the selected
 * records (default: every one set aside) go back in the queue; with `--url` and `--api-key` they
 * are sent now to the key's project, and those refused again are set aside again.
 *
 * @since 0.3.0
 */
export const retry = Command.make("retry", {
  file,
  id: ids,
  target,
  url: Options.text("url").pipe(Options.optional, Options.withDescription("send them now to this server")),
  apiKey: Options.text("api-key").pipe(Options.optional, Options.withDescription("API key of the project to send them to"))
}, (options) =>
  Effect.gen(function*() {
    const selection = selectionOf(options)
    if (Option.isNone(options.url) || Option.isNone(options.apiKey)) {
      if (Option.isSome(options.url) || Option.isSome(options.apiKey)) {
        return yield* Effect.fail(new Error("give both --url and --api-key to send the records now"))
      }
      const count = yield* SqliteOutbox.retry(options.file, selection)
      return yield* Console.log(`${count} record(s) queued again; the next program of their project sends them`)
    }
    const url = options.url.value
    const apiKey = options.apiKey.value
    const { project } = yield* Effect.flatMap(
      HttpApiClientFor(url, Redacted.make(apiKey)),
      (api) => api.usage.project()
    ).pipe(Effect.provide(FetchHttpClient.layer))
    const count = yield* SqliteOutbox.retry(options.file, selection, `project:${project}`)
    const sent = yield* Effect.flatMap(MultiRunClient.MultiRunClient, (client) => Effect.either(client.flush)).pipe(
      Effect.provide(Remote.layer({ url, apiKey }).pipe(
        Layer.provide([SqliteOutbox.layer({ filename: options.file }), FetchHttpClient.layer])
      ))
    )
    if (sent._tag === "Left") return yield* Effect.fail(sent.left)
    yield* Console.log(`${count} record(s) sent to project "${project}" at ${url}`)
  }).pipe(reportErrors(false))).pipe(
    withHelp("Queue set-aside records again; with --url and --api-key, send them now", [
      "multirun outbox retry --id EVENT_ID",
      "multirun outbox retry --url http://127.0.0.1:7420 --api-key KEY"
    ])
  )

/**
 * `multirun outbox drop [--file F] [--id ID]… [--target T]`: deletes the selected records
 * (default: every one set aside); they are never sent.
 *
 * @since 0.3.0
 */
export const drop = Command.make("drop", { file, id: ids, target }, (options) =>
  Effect.gen(function*() {
    const count = yield* SqliteOutbox.drop(options.file, selectionOf(options))
    yield* Console.log(`${count} record(s) dropped from ${options.file}`)
  }).pipe(reportErrors(false))).pipe(
    withHelp("Delete records from a client's outbox (default: those set aside); they are never sent", [
      "multirun outbox drop",
      "multirun outbox drop --target project:default"
    ])
  )

/**
 * `multirun outbox`.
 *
 * @since 0.3.0
 */
export const outbox = Command.make("outbox").pipe(
  Command.withSubcommands([list, retry, drop]),
  withHelp("Look at and act on a client's durable outbox: list, retry or drop records", [
      "multirun outbox list",
      "multirun outbox drop --id EVENT_ID"
    ])
)
