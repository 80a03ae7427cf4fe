/**
 * A client killed while the server is away loses nothing (issue 8, point 4). `multirun serve` runs
 * in its own process; in each of 20 rounds a client process starts (the server check passes),
 * the server is stopped (SIGSTOP) or, every fourth round, killed, the client goes on recording
 * steps into the durable outbox, and is killed (SIGKILL) at a random moment; then the server
 * continues (SIGCONT) or is started again on the same port. The next client sends what the
 * killed one left, and a last one drains the outbox. Every step a client printed as completed is
 * on the server exactly once. A second test sends what a closed outbox left, one record of which
 * the server refuses.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { Event, MultiRunClient, Outbox, RemoteLayer, step, withRun } from "@multirun/core"
import { agentRecord, bundleFixture, runRecord, spawnChild, stepRecord, tempDir, tempFile } from "@multirun/core/test-utils"
import * as SqliteOutbox from "@multirun/sql/SqliteOutbox"
import { Clock, Effect, ExecutionStrategy, Exit, Layer, Logger, Random, Scope } from "effect"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as ApiKeys from "../src/ApiKeys.js"
import * as Database from "../src/Database.js"
import { bundleCli, restartableServe } from "./cliBundle.js"
import { sqliteDatabase, start } from "./TestServer.js"

const rounds = 20

/** Where the bundled client finds better-sqlite3 (a native addon, left out of the bundle). */
const nodePath = path.dirname(path.dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json")))

/** Rows of a SQLite file, read with a connection of this process. */
const query = <A extends object>(filename: string, statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(statement)).pipe(
    Effect.provide(SqliteClient.layer({ filename })),
    Effect.orDie
  )

describe("durable outbox", () => {
  it.scopedLive("20 clients killed while the server is stopped or down: every completed step is stored once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("outbox-kill")
      const db = path.join(dir, "server.db")
      const outbox = path.join(dir, "outbox.db")
      const [bin, client] = yield* Effect.all([
        bundleCli,
        bundleFixture(path.join(import.meta.dirname, "fixtures", "outboxClient.ts"), { external: ["better-sqlite3"] })
      ], { concurrency: "unbounded" })
      const apiKey = yield* Effect.orDie(Effect.provide(ApiKeys.create("outbox"), Database.layer({ filename: db })))
      // the scopes of the server and of each client close early, or with the test's if it fails
      const testScope = yield* Effect.scope
      const startServer = yield* restartableServe(bin, db)
      let server = yield* startServer
      const env = { MULTIRUN_URL: server.url, MULTIRUN_API_KEY: apiKey, OUTBOX: outbox, NODE_PATH: nodePath }

      const printed = new Set<string>()
      let duringOutage = 0
      const leftOver: Array<number> = []
      for (let round = 0; round < rounds; round++) {
        const down = round % 4 === 3
        const scope = yield* Scope.fork(testScope, ExecutionStrategy.sequential)
        const child = yield* Scope.extend(spawnChild(process.execPath, [client], { env }), scope)
        yield* child.line(/^READY$/)
        yield* Effect.sleep(yield* Random.nextIntBetween(50, 300))
        if (down) yield* Scope.close(server.scope, Exit.void) // SIGKILL
        else yield* server.child.kill("SIGSTOP")
        const stoppedAt = yield* Clock.currentTimeMillis
        yield* Effect.sleep(yield* Random.nextIntBetween(50, 700))
        yield* child.kill("SIGKILL")
        const exit = yield* child.exit
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(exit.signal, "SIGKILL", exit.stderr)
        for (const line of exit.stdout.filter((line) => line.startsWith("STEP "))) {
          const [, id, at] = line.split(" ")
          printed.add(id!)
          if (Number(at) >= stoppedAt) duringOutage++
        }
        leftOver.push(Number((yield* query<{ n: number }>(outbox, "SELECT COUNT(*) AS n FROM multirun_outbox"))[0]!.n))
        if (down) server = yield* startServer
        else yield* server.child.kill("SIGCONT")
      }

      const drain = yield* Effect.scoped(
        Effect.flatMap(spawnChild(process.execPath, [client], { env: { ...env, MODE: "drain" } }), (child) => child.exit)
      )
      assert.strictEqual(drain.code, 0, drain.stderr)
      assert.include(drain.stdout, "DRAINED")
      const [remaining] = yield* query<{ n: number }>(outbox, "SELECT COUNT(*) AS n FROM multirun_outbox")
      assert.strictEqual(Number(remaining!.n), 0, "the outbox is empty")

      // the step table keeps a UUID id as its 16 bytes
      const rows = yield* query<{ id: string }>(db, "SELECT lower(hex(id)) AS id FROM multirun_steps")
      const stored = new Set(rows.map((row) => row.id))
      assert.strictEqual(stored.size, rows.length, "no step is stored twice")
      const missing = [...printed].filter((id) => !stored.has(id.replaceAll("-", "")))
      assert.deepStrictEqual(missing, [], "every printed step is stored")
      // a stored step nobody printed was recorded in the moment the client was killed: one per round at most
      assert.isAtMost(stored.size - printed.size, rounds)
      assert.isAbove(duringOutage, 0, "the clients recorded steps while the server was away")
      console.log(
        `outbox kill test: ${rounds} clients killed, ${printed.size} steps printed (${duringOutage} while the server ` +
          `was away), ${stored.size} stored, ${leftOver.reduce((a, b) => a + b, 0)} records left in the outbox ` +
          `by killed clients (at most ${Math.max(...leftOver)} at once) and shipped by the next one`
      )
      yield* Scope.close(server.scope, Exit.void)
    }), { timeout: 180_000 })

  it.scopedLive("the records an ended process left are sent; one the server refuses is set aside with a warning, not the new program's failure", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase, { maxBodyBytes: 64 * 1024 })
      const apiKey = yield* server.keyFor("leftovers")
      const filename = yield* tempFile("outbox.db")
      // RemoteLayer's target: the key's project
      const target = "project:leftovers"
      const steps = [0, 1, 2].map((seq) => stepRecord(`left-${seq}`, "left-run", "left-agent", seq))
      const huge = { ...stepRecord("left-huge", "left-run", "left-agent", 3), output: JSON.stringify("y".repeat(100_000)) }
      const left = [
        Event.runWritten(runRecord("left-run")),
        Event.agentWritten(agentRecord("left-agent", "left-run")),
        ...[...steps, huge].map(Event.stepWritten)
      ]
      yield* Effect.flatMap(Outbox.Outbox, (outbox) => outbox.append(target, left)).pipe(
        Effect.provide(SqliteOutbox.layer({ filename }))
      )

      const warnings: Array<string> = []
      const logger = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") warnings.push(String(message))
        })
      )
      const remote = RemoteLayer({ url: server.url, apiKey, maxBatchBytes: 48 * 1024 }).pipe(
        Layer.provide(SqliteOutbox.layer({ filename }))
      )
      const stored = yield* withRun("after")(Effect.succeed(1).pipe(step("new", { input: {} }))).pipe(
        Effect.zipRight(Effect.flatMap(MultiRunClient.MultiRunClient, (client) => client.listSteps("left-run"))),
        Effect.provide(remote),
        Effect.provide(logger)
      )
      assert.deepStrictEqual(stored.map((s) => s.id), steps.map((s) => s.id))
      assert.strictEqual(warnings.length, 1, warnings.join("\n"))
      assert.include(warnings[0], "left by an earlier process")
      assert.include(warnings[0], "left-huge")
      assert.include(warnings[0], `multirun outbox list --file ${filename}`)
      // the refused record is kept aside, the others are gone
      const remaining = yield* query<{ event_id: string; set_aside: string | null }>(
        filename,
        "SELECT event_id, set_aside FROM multirun_outbox"
      )
      assert.deepStrictEqual(remaining.map((row) => row.event_id), [left.at(-1)!.eventId])
      assert.include(remaining[0]!.set_aside, "left-huge")
    }))
})
