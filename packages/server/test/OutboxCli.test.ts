/**
 * Records left in a durable outbox reach their project whatever URL spelling or key the next
 * program uses (issue 21, point 10), and `multirun outbox list|retry|drop --file` lets a person
 * look at and act on what was set aside or is stranded for another target (point 1).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { Event, MultiRunClient, Outbox, RemoteLayer, step, withRun } from "@multirun/core"
import { runRecord, stepRecord, tempDir, tempFile } from "@multirun/core/test-utils"
import * as SqliteOutbox from "@multirun/sql/SqliteOutbox"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import * as ApiKeys from "../src/ApiKeys.js"
import { bundleCli, runCli as cli } from "./cliBundle.js"
import { captureWarnings, sqliteDatabase, start } from "./TestServer.js"

const count = (filename: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT COUNT(*) AS n FROM multirun_outbox`).pipe(
    Effect.map((rows) => Number(rows[0]!.n)),
    Effect.provide(SqliteClient.layer({ filename })),
    Effect.orDie
  )

describe("outbox leftovers", () => {
  it.scopedLive("left through 127.0.0.1 with one key, sent through localhost with the rotated key", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase
      const firstScope = yield* Scope.make()
      const first = yield* Scope.extend(start(database), firstScope)
      const apiKey = yield* first.keyFor("strand")
      const filename = yield* tempFile("outbox.db")
      const outbox = SqliteOutbox.layer({ filename })
      const steps = Array.from({ length: 12 }, (_, seq) => stepRecord(`left-${seq}`, "left-run", "a", seq))
      // the server goes away before the records are sent: they stay in the outbox file
      yield* Effect.gen(function*() {
        const client = yield* MultiRunClient.MultiRunClient
        yield* Scope.close(firstScope, Exit.void)
        yield* client.writeRun(runRecord("left-run"))
        for (const record of steps) yield* client.writeStep(record)
      }).pipe(
        Effect.provide(RemoteLayer({ url: first.url, apiKey, writeDeadline: "1 second", retryMax: "100 millis" })),
        Effect.provide(outbox),
        Effect.provide(captureWarnings().logger)
      )
      assert.strictEqual(yield* count(filename), steps.length + 1)

      const second = yield* start(database, { port: first.port })
      const [key] = yield* Effect.orDie(Effect.provide(ApiKeys.list("strand"), Layer.succeed(SqlClient.SqlClient, second.sql)))
      const rotated = Option.getOrThrow(
        yield* Effect.orDie(Effect.provide(ApiKeys.rotate(key!.id), Layer.succeed(SqlClient.SqlClient, second.sql)))
      )
      const stored = yield* withRun("next")(Effect.succeed(1).pipe(step("new"))).pipe(
        Effect.zipRight(Effect.flatMap(MultiRunClient.MultiRunClient, (client) => client.listSteps("left-run"))),
        Effect.provide(RemoteLayer({ url: `http://localhost:${second.port}`, apiKey: rotated })),
        Effect.provide(outbox)
      )
      assert.deepStrictEqual(stored.map((s) => s.id), steps.map((s) => s.id))
      assert.strictEqual(yield* count(filename), 0)
    }), { timeout: 60_000 })

  it.scopedLive("outbox list shows what is set aside or stranded; drop deletes, retry --url sends", () =>
    Effect.gen(function*() {
      const [bin, cwd, database] = yield* Effect.all([bundleCli, tempDir("outbox-cli"), sqliteDatabase], { concurrency: 2 })
      const smallScope = yield* Scope.make()
      const small = yield* Scope.extend(start(database, { maxBodyBytes: 64 * 1024 }), smallScope)
      const apiKey = yield* small.keyFor("cli")
      const filename = yield* tempFile("outbox.db")
      const outbox = SqliteOutbox.layer({ filename })
      const huge = { ...stepRecord("huge", "r", "a", 1), output: JSON.stringify("y".repeat(100_000)) }
      // a record of a 0.2 outbox: its target is a URL and a key fingerprint
      const stranded = Event.stepWritten(stepRecord("old", "r", "a", 2))
      yield* Effect.flatMap(Outbox.Outbox, (o) => o.append("http://127.0.0.1:1 key:0123456789abcdef", [stranded])).pipe(
        Effect.provide(outbox)
      )
      const { logger, warnings } = captureWarnings()
      yield* Effect.gen(function*() {
        const client = yield* MultiRunClient.MultiRunClient
        yield* client.writeRun(runRecord("r"))
        yield* client.writeStep(stepRecord("small", "r", "a", 0))
        yield* client.writeStep(huge)
        yield* Effect.flip(client.flush)
      }).pipe(Effect.provide(RemoteLayer({ url: small.url, apiKey })), Effect.provide(outbox), Effect.provide(logger))
      // reported at start, with the commands
      const atStart = warnings.find((w) => w.includes("does not send"))
      assert.include(atStart, "1 for other targets (http://127.0.0.1:1 key:0123456789abcdef: 1)")
      assert.include(atStart, `multirun outbox drop --file ${filename}`)

      const listed = yield* cli(bin, cwd, ["outbox", "list", "--file", filename])
      assert.strictEqual(listed.code, 0, listed.stderr)
      const lines = listed.stdout.split("\n")
      assert.isTrue(lines.some((l) => l.includes("set aside") && l.includes("huge") && l.includes("413")), listed.stdout)
      assert.isTrue(lines.some((l) => l.includes("pending") && l.includes("key:0123456789abcdef")), listed.stdout)

      const dropped = yield* cli(bin, cwd, ["outbox", "drop", "--file", filename, "--target", "http://127.0.0.1:1 key:0123456789abcdef"])
      assert.strictEqual(dropped.code, 0, dropped.stderr)
      assert.include(dropped.stdout, "1 record(s) dropped")

      // the server takes larger bodies now: retry sends the record set aside
      yield* Scope.close(smallScope, Exit.void)
      const large = yield* start(database, { port: small.port })
      const retried = yield* cli(bin, cwd, ["outbox", "retry", "--file", filename, "--url", large.url, "--api-key", apiKey])
      assert.strictEqual(retried.code, 0, retried.stderr)
      assert.include(retried.stdout, `1 record(s) sent to project "cli"`)
      const steps = yield* Effect.flatMap(MultiRunClient.MultiRunClient, (client) => client.listSteps("r")).pipe(
        Effect.provide(RemoteLayer({ url: large.url, apiKey })),
        Effect.provide(Outbox.layerMemory)
      )
      assert.deepStrictEqual(steps.map((s) => s.id), ["small", "huge"])
      assert.strictEqual(yield* count(filename), 0)
      const empty = yield* cli(bin, cwd, ["outbox", "list", "--file", filename])
      assert.include(empty.stdout, "is empty")
    }), { timeout: 120_000 })
})
