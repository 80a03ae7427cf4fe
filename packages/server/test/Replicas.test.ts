/**
 * Two `multirun serve` replicas over one PostgreSQL schema (issue 8, point 5). Each replica is a
 * real process of the bundled command; both start, with `multirun keys create`, at the same
 * moment on a new schema, and the key works on both. The tests run in order on the same pair:
 *
 * - a batch posted to A and retried against B is stored once (and the same records under a new
 *   batch id are still one row each);
 * - while a run is live through A, a resume through B fails at once with `RunError("Locked")`;
 * - after A is killed (SIGKILL), runs recorded through A resume through B from their latest
 *   checkpoint: covered steps are replayed, new ones execute, and the runs complete. One run
 *   failed (its lease was released); the other's process died holding its lease, which the
 *   resuming process takes over at once (the owner token names a process that no longer exists).
 *
 * Rows are counted in PostgreSQL itself, not through either replica.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import { RunContext, RunError, step, withRun } from "@multirun/core"
import { HttpApiClientFor } from "@multirun/core/RemoteLayer"
import { batchOf, bundleFixture, describePg, pgSchema, pgUrl, spawnChild } from "@multirun/core/test-utils"
import { Cause, Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Redacted } from "effect"
import { ProjectView } from "@multirun/sql"
import * as StepRows from "@multirun/sql/StepRows"
import * as path from "node:path"
import * as Database from "../src/Database.js"
import { bundleCli } from "./cliBundle.js"
import { httpClient, memoryRemote } from "./TestServer.js"

/** A replica: its URL and a way to kill it. */
interface Replica {
  readonly url: string
  readonly kill: Effect.Effect<void>
}

/** The two replicas, the key both accept and the shared database. */
class Replicas extends Context.Tag("Replicas")<Replicas, {
  readonly a: Replica
  readonly b: Replica
  readonly apiKey: string
  readonly sql: SqlClient.SqlClient
}>() {}

const layerReplicas = Layer.scoped(
  Replicas,
  Effect.gen(function*() {
    const [bin, schema] = yield* Effect.all([bundleCli, pgSchema])
    const database = ["--database-url", pgUrl, "--schema", schema]
    const createKey = Effect.scoped(Effect.flatMap(
      spawnChild(process.execPath, [bin, "keys", "create", "--project", "replicas", ...database]),
      (child) => child.exit
    ))
    const replica = Effect.gen(function*() {
      const child = yield* spawnChild(process.execPath, [bin, "serve", ...database, "--port", "0"])
      const url = /listening on (http:\/\/\S+)/.exec(yield* Effect.orDie(child.line(/listening on/)))![1]!
      return { url, kill: Effect.zipRight(child.kill("SIGKILL"), child.exit) }
    })
    // all three processes create and migrate the new schema at the same moment: they take turns
    const [created, a, b] = yield* Effect.all([createKey, replica, replica], { concurrency: "unbounded" })
    assert.strictEqual(created.code, 0, created.stderr)
    const apiKey = created.stdout[0]!
    const context = yield* Layer.build(Database.layer({ url: pgUrl, schema }))
    return { a, b, apiKey, sql: Context.get(context, SqlClient.SqlClient) }
  })
)

/** The resume fixture (`fixtures/resumable.ts`) run to its end in a new process: exit code and JSON lines. */
const fixture = (script: string, env: Record<string, string>) =>
  Effect.scoped(Effect.gen(function*() {
    const exit = yield* Effect.flatMap(spawnChild(process.execPath, [script], { env }), (child) => child.exit)
    const events = exit.stdout.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
    return { code: exit.code, stderr: exit.stderr, event: (name: string) => events.find((e) => e.event === name) }
  }))

/** A step that counts its executions. */
const work = (name: string, executed: Array<string>) =>
  Effect.sync(() => {
    executed.push(name)
    return `answer ${name}`
  }).pipe(step(name, { kind: "llm_call", input: { prompt: name } }))

/** The stored steps of a run, in order, as the store reads its rows: name and whether it was replayed. */
const storedSteps = (sql: SqlClient.SqlClient, runId: string) =>
  Effect.map(
    Effect.orDie(Effect.flatMap(ProjectView.make("replicas"), (view) => view.listSteps(runId)).pipe(
      Effect.provideService(SqlClient.SqlClient, sql)
    )),
    (steps) => steps.map((step) => `${step.name}${step.replayed ? " (replayed)" : ""}`)
  )

const runStatus = (sql: SqlClient.SqlClient, runId: string) =>
  Effect.map(
    Effect.orDie(sql<{ status: string }>`SELECT status FROM multirun_runs WHERE id = ${runId}`),
    (rows) => rows.map((row) => row.status)
  )

describePg("PostgreSQL", () => {
  layer(layerReplicas, { excludeTestServices: true })("two serve replicas over one PostgreSQL", (it) => {
    it.effect("a batch posted to A and retried against B is stored once", () =>
      Effect.gen(function*() {
        const { a, apiKey, b, sql } = yield* Replicas
        const key = Redacted.make(apiKey)
        const batch = batchOf("replicated-batch", "replicated-run", 5)
        const first = yield* Effect.flatMap(HttpApiClientFor(a.url, key), (api) => api.ingest.ingest({ payload: batch }))
        const retried = yield* Effect.flatMap(HttpApiClientFor(b.url, key), (api) => api.ingest.ingest({ payload: batch }))
        assert.deepStrictEqual([first.stored, first.duplicate], [7, false])
        assert.deepStrictEqual([retried.stored, retried.duplicate, retried.rejected], [0, true, []])

        const count = (statement: Effect.Effect<ReadonlyArray<{ n: number | string }>, unknown>) =>
          Effect.map(Effect.orDie(statement), (rows) => Number(rows[0]!.n))
        const stepsOfRun = sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM multirun_steps
          WHERE run_id = ${StepRows.runKey("replicated-run")}`
        assert.strictEqual(yield* count(stepsOfRun), 5)
        assert.strictEqual(yield* count(sql`SELECT COUNT(*) AS n FROM multirun_ingest_batches`), 1)

        // the same records under a new batch id, to B: a new delivery, but still one row per step
        const again = yield* Effect.flatMap(
          HttpApiClientFor(b.url, key),
          (api) => api.ingest.ingest({ payload: batchOf("replicated-batch-2", "replicated-run", 5) })
        )
        assert.deepStrictEqual([again.stored, again.duplicate], [7, false])
        assert.strictEqual(yield* count(stepsOfRun), 5)
        assert.strictEqual(yield* count(sql`SELECT COUNT(*) AS n FROM multirun_runs WHERE id = 'replicated-run'`), 1)
      }).pipe(Effect.provide(httpClient)))

    it.effect("while a run is live through A, a resume through B is RunError(Locked) before any step", () =>
      Effect.gen(function*() {
        const { a, apiKey, b, sql } = yield* Replicas
        const executed: Array<string> = []
        const started = yield* Deferred.make<string>()
        const finish = yield* Deferred.make<void>()
        const live = yield* Effect.fork(withRun("live")(Effect.gen(function*() {
          const run = yield* RunContext
          yield* work("s0", executed)
          yield* run.checkpoint("after-s0")
          yield* Deferred.succeed(started, run.runId)
          yield* Deferred.await(finish)
          yield* work("s1", executed)
        })).pipe(Effect.provide(memoryRemote({ url: a.url, apiKey }))))
        const runId = yield* Deferred.await(started)

        const before = yield* Clock.currentTimeMillis
        const resume = yield* Effect.exit(
          withRun({ name: "live", resume: { runId, latest: true } })(work("s1", executed)).pipe(
            Effect.provide(memoryRemote({ url: b.url, apiKey }))
          )
        )
        const took = (yield* Clock.currentTimeMillis) - before
        assert.isTrue(Exit.isFailure(resume))
        const error = Exit.isFailure(resume) ? Option.getOrUndefined(Cause.failureOption(resume.cause)) : undefined
        assert.instanceOf(error, RunError, String(resume))
        if (!(error instanceof RunError)) return
        assert.strictEqual(error.reason, "Locked")
        assert.strictEqual(error.runId, runId)
        assert.match(error.holder!.owner, new RegExp(`^pid ${process.pid} `))
        assert.deepStrictEqual(executed, ["s0"], "the refused resume ran no step")
        // refused at once, not after waiting for the owner's lease (30 s) to expire
        assert.isBelow(took, 5_000)

        yield* Deferred.succeed(finish, undefined)
        yield* Fiber.join(live)
        assert.deepStrictEqual(executed, ["s0", "s1"])
        assert.deepStrictEqual(yield* storedSteps(sql, runId), ["s0", "s1"])
        assert.deepStrictEqual(yield* runStatus(sql, runId), ["completed"])
      }))

    it.scoped("runs recorded through A resume through B after A is killed (SIGKILL)", () =>
      Effect.gen(function*() {
        const { a, apiKey, b, sql } = yield* Replicas
        // a process that dies after s4, holding the lease of its run (checkpoint after s3)
        const script = yield* bundleFixture(path.join(import.meta.dirname, "fixtures", "resumable.ts"))
        const dead = yield* fixture(script, { MULTIRUN_URL: a.url, MULTIRUN_API_KEY: apiKey, MODE: "start" })
        assert.strictEqual(dead.code, 3, dead.stderr)
        const deadRunId: string = dead.event("started").runId

        // a run of this process that fails after s3 (checkpoint after s2): its lease is released
        const executed: Array<string> = []
        let runId = ""
        const crashed = yield* Effect.exit(withRun("survivor")(Effect.gen(function*() {
          const run = yield* RunContext
          runId = run.runId
          for (const name of ["s0", "s1", "s2"]) yield* work(name, executed)
          yield* run.checkpoint("after-s2")
          yield* work("s3", executed)
          return yield* Effect.fail("crash")
        })).pipe(Effect.provide(memoryRemote({ url: a.url, apiKey }))))
        assert.deepStrictEqual(crashed, Exit.fail("crash"))
        assert.deepStrictEqual(yield* runStatus(sql, runId), ["failed"])

        yield* a.kill
        executed.length = 0
        const resumed = yield* withRun({ name: "survivor", resume: { runId, latest: true } })(Effect.gen(function*() {
          const run = yield* RunContext
          const replaying = yield* run.isReplaying
          const answers = []
          for (const name of ["s0", "s1", "s2", "s3", "s4"]) answers.push(yield* work(name, executed))
          return { replaying, answers }
        })).pipe(Effect.provide(memoryRemote({ url: b.url, apiKey })))

        assert.isTrue(resumed.replaying)
        assert.deepStrictEqual(resumed.answers, ["s0", "s1", "s2", "s3", "s4"].map((name) => `answer ${name}`))
        assert.deepStrictEqual(executed, ["s3", "s4"], "the steps the checkpoint covers are replayed, not executed")
        assert.deepStrictEqual(yield* runStatus(sql, runId), ["completed"])
        // A's attempt (s0..s3), then B's: the covered steps replayed (no rows), s3 and s4 executed
        assert.deepStrictEqual(yield* storedSteps(sql, runId), ["s0", "s1", "s2", "s3", "s3", "s4"])

        const [lease] = yield* Effect.orDie(sql<{ owner: string; expires_at: number | string }>`
          SELECT owner, expires_at FROM multirun_leases WHERE run_id = ${deadRunId}`)
        assert.match(lease!.owner, /^pid \d+ /)
        assert.isAbove(Number(lease!.expires_at), Date.now(), "the dead process's lease has not expired")
        const resumedDead = yield* fixture(script, {
          MULTIRUN_URL: b.url,
          MULTIRUN_API_KEY: apiKey,
          MODE: "resume",
          RUN_ID: deadRunId
        })
        assert.strictEqual(resumedDead.code, 0, resumedDead.stderr)
        assert.isTrue(resumedDead.event("started").replaying)
        assert.deepStrictEqual(resumedDead.event("done").executed, ["s4", "s5"])
        assert.deepStrictEqual(yield* runStatus(sql, deadRunId), ["completed"])
        // the dead process's steps (s4 only if it was sent before the process died), then B's
        // executed ones (its replayed calls write no rows)
        const stored = yield* storedSteps(sql, deadRunId)
        assert.deepStrictEqual(stored.slice(-2), ["s4", "s5"])
        assert.oneOf(stored.slice(0, -2).join(), ["s1,s2,s3", "s1,s2,s3,s4"])
      }))
  })
})
