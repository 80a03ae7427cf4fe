/**
 * The outbox never lets one record block the others (issue 21, points 1 and 8): a batch the
 * server refuses whole is split down to single records, a record refused alone or failed on past
 * the write deadline is set aside in the durable outbox (kept, logged once with the command that
 * lists it) and the records after it are stored; the next program on the same outbox starts and
 * runs, and is told at start what is set aside. Every program is bounded: a hang fails the test.
 */
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, RemoteLayer, RunContext, step, withRun } from "@multirun/core"
import type { BackendError } from "@multirun/core/Errors"
import { describePg, runRecord, stepRecord, tempFile } from "@multirun/core/test-utils"
import * as SqliteOutbox from "@multirun/sql/SqliteOutbox"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import type * as Database from "../src/Database.js"
import { captureWarnings, memoryRemote, pgDatabase, sqliteDatabase, start } from "./TestServer.js"

/** Fails the test instead of waiting for ever. */
const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "30 seconds", onTimeout: () => new Error("hung: no answer within 30 s") })

/** The rows of an outbox file: event id and why it was set aside (null: pending). */
const outboxRows = (filename: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ event_id: string; set_aside: string | null }>`SELECT event_id, set_aside FROM multirun_outbox ORDER BY rowid`
  ).pipe(Effect.provide(SqliteClient.layer({ filename })), Effect.orDie)

describe("a batch refused whole", () => {
  it.scopedLive("413 on a batch of 12 steps of 100 kB: split down until each part fits, every step stored", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase, { maxBodyBytes: 1_000_000 })
      const apiKey = yield* server.keyFor("split")
      const steps = Array.from({ length: 12 }, (_, seq) => ({
        ...stepRecord(`s-${seq}`, "r", "a", seq),
        output: JSON.stringify("y".repeat(100_000))
      }))
      const stored = yield* Effect.gen(function*() {
        const client = yield* MultiRunClient.MultiRunClient
        yield* client.writeRun(runRecord("r"))
        for (const step of steps) yield* client.writeStep(step)
        yield* client.flush
        return yield* client.listSteps("r")
      }).pipe(Effect.provide(memoryRemote({ url: server.url, apiKey, writeDeadline: "5 seconds" })), bounded)
      assert.deepStrictEqual(stored.map((s) => s.id), steps.map((s) => s.id))
    }))
})

/**
 * One record the server cannot store among others, through a durable outbox: it is set aside,
 * the others are stored, the flush reports it typed, and a second program on the outbox runs.
 */
const poisoned = (
  database: Effect.Effect<Database.Options, never, Scope.Scope>,
  poison: (seq: number) => ReturnType<typeof stepRecord>
) =>
  Effect.gen(function*() {
    const server = yield* start(yield* database)
    const apiKey = yield* server.keyFor("poison")
    const filename = yield* tempFile("outbox.db")
    const remote = RemoteLayer({ url: server.url, apiKey, writeDeadline: "1 second", retryMax: "100 millis" }).pipe(
      Layer.provide(SqliteOutbox.layer({ filename }))
    )
    const before = stepRecord("before", "r", "a", 0)
    const bad = poison(1)
    const after = stepRecord("after", "r", "a", 2)
    const first = captureWarnings()
    const [error, stored] = yield* Effect.gen(function*() {
      const client = yield* MultiRunClient.MultiRunClient
      yield* client.writeRun(runRecord("r"))
      for (const step of [before, bad, after]) yield* client.writeStep(step)
      const error: BackendError = yield* Effect.flip(client.flush)
      yield* client.flush
      return [error, yield* client.listSteps("r")] as const
    }).pipe(Effect.provide(remote), Effect.provide(first.logger), bounded)
    assert.deepStrictEqual([error.reason, error.location], ["Rejected", server.url])
    assert.include(error.message, bad.id)
    assert.deepStrictEqual(stored.map((s) => s.id), [before.id, after.id])
    const aside = first.warnings.filter((w) => w.includes("set aside"))
    assert.strictEqual(aside.length, 1, first.warnings.join("\n"))
    assert.include(aside[0], `multirun outbox list --file ${filename}`)
    const rows = yield* outboxRows(filename)
    assert.strictEqual(rows.length, 1, "only the refused record is kept")
    assert.include(rows[0]!.set_aside, bad.id)

    // the next program on the same outbox runs, and hears at start what is set aside
    const second = captureWarnings()
    const result = yield* withRun("next")(Effect.succeed(42).pipe(step("works"))).pipe(
      Effect.provide(remote),
      Effect.provide(second.logger),
      bounded
    )
    assert.strictEqual(result, 42)
    const told = second.warnings.filter((w) => w.includes("1 set aside"))
    assert.strictEqual(told.length, 1, second.warnings.join("\n"))
    assert.include(told[0], `multirun outbox retry --file ${filename}`)
    assert.include(told[0], `multirun outbox drop --file ${filename}`)
  })

describe("one record the server refuses", () => {
  it.scopedLive("too large alone (413): set aside in the outbox, the records after it stored, the next program runs", () =>
    poisoned(
      sqliteDatabase,
      (seq) => ({ ...stepRecord("huge", "r", "a", seq), output: JSON.stringify("y".repeat(6 * 1024 * 1024)) })
    ), { timeout: 60_000 })
})

describePg("PostgreSQL", () => {
  it.scopedLive("a record PostgreSQL cannot store (U+0000): set aside past the write deadline, the others stored", () =>
    poisoned(pgDatabase, (seq) => stepRecord("nul", "r", "a", seq, { name: "has\u0000nul" })), {
    timeout: 60_000
  })
})

describe("a checkpoint after a refused step", () => {
  it.scopedLive("never covers it: the first and every later checkpoint fail Rejected naming it, none is stored", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase, { maxBodyBytes: 64 * 1024 })
      const apiKey = yield* server.keyFor("covered")
      const { logger } = captureWarnings()
      const [first, second, runId] = yield* withRun("refused-step")(Effect.gen(function*() {
        const run = yield* RunContext
        yield* Effect.succeed(1).pipe(step("ok"))
        yield* Effect.succeed("y".repeat(100_000)).pipe(step("huge"))
        const first = yield* Effect.flip(run.checkpoint("after-huge"))
        const second = yield* Effect.flip(run.checkpoint("again"))
        return [first, second, run.runId] as const
      })).pipe(
        Effect.provide(memoryRemote({ url: server.url, apiKey, maxBatchBytes: 48 * 1024 })),
        Effect.provide(logger),
        bounded
      )
      for (const error of [first, second]) {
        assert.strictEqual(error._tag, "BackendError")
        if (error._tag !== "BackendError") continue
        assert.strictEqual(error.reason, "Rejected")
        assert.include(error.message, "huge")
      }
      const checkpoints = yield* Effect.flatMap(MultiRunClient.MultiRunClient, (client) => client.listCheckpoints(runId)).pipe(
        Effect.provide(memoryRemote({ url: server.url, apiKey }))
      )
      assert.deepStrictEqual(checkpoints, [])
    }))
})
