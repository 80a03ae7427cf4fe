/**
 * `multirun gc` and `multirun usage` run as processes over a SQLite file of 10,000 steps (90% of
 * them old enough to go) and a PostgreSQL schema: the dry run, what is removed and printed, the
 * file's size before and after, and the error lines; `usage --url` against a real server.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as Checkpoint from "@multirun/core/Checkpoint"
import { step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { agentRecord, describePg, pgSchema, pgUrl, runRecord, stepRecord, tempDir, tempFile } from "@multirun/core/test-utils"
import { PgLayer, SqliteLayer } from "@multirun/sql"
import { SqlClient } from "@effect/sql/SqlClient"
import { Clock, Effect } from "effect"
import { bundleCli, runCli as cli } from "./cliBundle.js"
import { memoryRemote, sqliteDatabase, start } from "./TestServer.js"

const day = 86_400_000
const text = "lorem ipsum dolor sit amet ".repeat(20)

/**
 * Ten completed runs of 1,000 steps and a checkpoint each (nine ended 40 days ago, one now), a
 * failed run of 40 days ago, a running run that started 40 days ago (with no lease: written
 * before leases, it cannot be judged) and a stalled one (its owner last seen 40 days ago).
 */
const seed = Effect.gen(function*() {
  const client = yield* MultiRunClient
  const now = yield* Clock.currentTimeMillis
  const old = now - 40 * day
  for (let r = 0; r < 10; r++) {
    const runId = `run-${r}`
    const endedAt = r === 0 ? now : old
    yield* client.writeRun(runRecord(runId, { name: `job-${r}`, status: "completed", startedAt: endedAt - 1000, endedAt }))
    yield* client.writeAgent(agentRecord(`${runId}-agent`, runId, { status: "completed" }))
    for (let seq = 0; seq < 1_000; seq++) {
      yield* client.writeStep(stepRecord(`${runId}-${seq}`, runId, `${runId}-agent`, seq, {
        input: JSON.stringify({ prompt: `${seq} ${text}` }),
        output: JSON.stringify({ answer: `${seq} ${text}` })
      }))
    }
    const checkpoint: Checkpoint.Encoded = {
      id: `${runId}-checkpoint`,
      runId,
      name: "done",
      version: 1,
      agentId: null,
      createdAt: endedAt,
      runState: { phase: "end" },
      agents: [],
      extraState: null,
      covered: [[0, 1_000]],
      stepCount: 1_000,
      tokensUsed: 0,
      costUsd: 0,
      latencyMs: 0
    }
    yield* client.saveCheckpoint(checkpoint)
  }
  yield* client.writeRun(runRecord("failed-run", { status: "failed", startedAt: old - 1000, endedAt: old }))
  yield* client.writeRun(runRecord("stuck-run", { status: "running", startedAt: old }))
  yield* client.writeRun(runRecord("stalled-run", { status: "running", startedAt: old }))
  yield* client.flush
  const lease = yield* client.acquireLease({ runId: "stalled-run", owner: "pid 1 on a gone host", ttlMs: 30_000 })
  // a lease is stamped with the database's time: age it as if it was taken 40 days ago
  const sql = yield* SqlClient
  const age = lease.acquiredAt - old
  yield* sql`UPDATE multirun_leases SET acquired_at = acquired_at - ${age}, expires_at = expires_at - ${age}`
})

/** gc and usage over one seeded database named by `source`. */
const scenario = (bin: string, cwd: string, source: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const usageBefore = yield* cli(bin, cwd, ["usage", ...source])
    assert.strictEqual(usageBefore.code, 0, usageBefore.stderr)
    const [header, row] = usageBefore.stdout.trim().split("\n")
    assert.match(header!, /^PROJECT\s+RUNS\s+RUNNING\s+COMPLETED\s+FAILED\s+INTERRUPTED\s+STEPS\s+CHECKPOINTS\s+BYTES$/)
    assert.match(row!, /^default\s+13\s+2\s+10\s+1\s+0\s+10,000\s+10\s+\d+\.\d MB$/)

    const dry = yield* cli(bin, cwd, ["gc", ...source, "--older-than", "30d", "--status", "completed", "--dry-run"])
    assert.strictEqual(dry.code, 0, dry.stderr)
    assert.match(
      dry.stdout,
      /^project default: would remove 9 run\(s\) \(9 completed\), 9 agent\(s\), 9,000 step\(s\), 9 checkpoint\(s\), \d+\.\d MB$/m
    )
    assert.include(dry.stdout, "dry run: nothing was removed")

    const gc = yield* cli(bin, cwd, ["gc", ...source, "--older-than", "30d", "--status", "completed"])
    assert.strictEqual(gc.code, 0, gc.stderr)
    assert.match(
      gc.stdout,
      /^project default: removed 9 run\(s\) \(9 completed\), 9 agent\(s\), 9,000 step\(s\), 9 checkpoint\(s\), \d+\.\d MB$/m
    )

    const usage = yield* cli(bin, cwd, ["usage", ...source, "--json"])
    const [after] = JSON.parse(usage.stdout)
    assert.deepStrictEqual({ ...after, bytes: 0 }, {
      project: "default",
      runs: { running: 2, completed: 1, failed: 1, interrupted: 0 },
      agents: 1,
      steps: 1_000,
      checkpoints: 1,
      bytes: 0
    })
    // without --status every finished status goes; the running runs stay, the stalled one too
    const rest = yield* cli(bin, cwd, ["gc", ...source, "--older-than", "30d", "--json"])
    assert.deepStrictEqual(JSON.parse(rest.stdout).removed.map((r: any) => r.runs), [
      { completed: 0, failed: 1, interrupted: 0, stalled: 0 }
    ])
    // --status stalled: the stalled run whose owner was last seen longer ago than the age
    const [young, stalled] = [
      yield* cli(bin, cwd, ["gc", ...source, "--older-than", "41d", "--status", "stalled"]),
      yield* cli(bin, cwd, ["gc", ...source, "--older-than", "30d", "--status", "stalled"])
    ]
    assert.match(young.stdout, /^project default: removed 0 run\(s\), 0 agent/m, young.stderr)
    assert.match(stalled.stdout, /^project default: removed 1 run\(s\) \(1 stalled\), 0 agent/m, stalled.stderr)
    const left = yield* cli(bin, cwd, ["runs", "list", ...source, "--json"])
    assert.deepStrictEqual(JSON.parse(left.stdout).map((r: any) => r.id).sort(), ["run-0", "stuck-run"])
    return gc.stdout
  })

describe("multirun gc and usage", () => {
  it.scopedLive("on a SQLite file: removes 90% of 10,000 steps and prints the file's size before and after", () =>
    Effect.gen(function*() {
      const [bin, cwd, filename] = yield* Effect.all([bundleCli, tempDir("gc"), tempFile()], { concurrency: 2 })
      yield* Effect.provide(seed, SqliteLayer({ filename }))
      const out = yield* scenario(bin, cwd, ["--db", filename])
      const sizes = new RegExp(`^${filename}: (\\d+\\.\\d) MB before, (\\d+\\.\\d) MB after$`, "m").exec(out)
      assert.isNotNull(sizes, out)
      const [before, after] = [Number(sizes![1]), Number(sizes![2])]
      console.log(`multirun gc on 10,000 steps, 9,000 removed: ${before} MB before, ${after} MB after`)
      assert.isBelow(after, before * 0.2)
    }), 180_000)

  it.scopedLive("usage --url asks the server for the key's project", () =>
    Effect.gen(function*() {
      const [bin, cwd, database] = yield* Effect.all([bundleCli, tempDir("gc"), sqliteDatabase], { concurrency: 2 })
      const server = yield* start(database)
      yield* withRun("served")(Effect.succeed(1).pipe(step("one", { input: { n: 1 } }))).pipe(
        Effect.provide(memoryRemote({ url: server.url, apiKey: server.apiKey }))
      )
      const [ok, table, wrongKey] = yield* Effect.all([
        cli(bin, cwd, ["usage", "--url", server.url, "--api-key", server.apiKey, "--json"]),
        cli(bin, cwd, ["usage", "--url", server.url, "--api-key", server.apiKey]),
        cli(bin, cwd, ["usage", "--url", server.url, "--api-key", "mr_wrong"])
      ], { concurrency: 3 })
      assert.strictEqual(ok.code, 0, ok.stderr)
      const [usage] = JSON.parse(ok.stdout)
      assert.deepStrictEqual({ ...usage, bytes: 0 }, {
        project: "test",
        runs: { running: 0, completed: 1, failed: 0, interrupted: 0 },
        agents: 1,
        steps: 1,
        checkpoints: 0,
        bytes: 0
      })
      assert.isAbove(usage.bytes, 100)
      assert.match(table.stdout.trim().split("\n")[1]!, /^test\s+1\s+0\s+1\s+0\s+0\s+1\s+0\s+\d+(\.\d)? k?B$/)
      assert.strictEqual(wrongKey.code, 1)
      assert.strictEqual(wrongKey.stderr.trim().split("\n").length, 1, wrongKey.stderr)
      assert.strictEqual(wrongKey.stderr.trim(), "multirun: unknown API key: create one with `multirun keys create --project NAME`")
    }), 120_000)

  it.scopedLive("errors are one line: a missing file, an age without a unit, two databases, a policy for running runs", () =>
    Effect.gen(function*() {
      const [bin, cwd, filename] = yield* Effect.all([bundleCli, tempDir("gc"), tempFile()], { concurrency: 2 })
      const [missing, badAge, both, badPolicy] = yield* Effect.all([
        cli(bin, cwd, ["gc", "--db", `${filename}.absent`]),
        cli(bin, cwd, ["gc", "--older-than", "30 days"]),
        cli(bin, cwd, ["usage", "--db", filename, "--database-url", pgUrl]),
        cli(bin, cwd, ["serve", "--db", filename, "--port", "0", "--retain", "running=1d"])
      ], { concurrency: 2 })
      assert.deepStrictEqual([missing.code, badAge.code, both.code, badPolicy.code], [1, 1, 1, 1])
      assert.strictEqual(
        badPolicy.stderr.trim(),
        "multirun: --retain: \"running=1d\": expected completed=AGE, failed=AGE, interrupted=AGE, stalled=AGE or " +
          "keepLast=N (live running runs are never removed)"
      )
      assert.strictEqual(missing.stderr.trim(), `multirun: no database at ${filename}.absent (give --db FILE or --database-url URL)`)
      assert.include(badAge.stderr, "multirun: --older-than: \"30 days\" is not an age")
      assert.strictEqual(both.stderr.trim(), "multirun: give either --db or --database-url, not both")
    }), 120_000)
})

describePg("multirun gc and usage on PostgreSQL", () => {
  it.scopedLive("removes the same runs from a schema", () =>
    Effect.gen(function*() {
      const [bin, cwd, schema] = yield* Effect.all([bundleCli, tempDir("gc"), pgSchema], { concurrency: 2 })
      yield* Effect.provide(seed, PgLayer({ url: pgUrl, schema }))
      const out = yield* scenario(bin, cwd, ["--database-url", pgUrl, "--schema", schema])
      assert.notInclude(out, "before")
    }), 180_000)
})
