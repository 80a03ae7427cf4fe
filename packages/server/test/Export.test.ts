/**
 * `multirun export`, `import` and `push`, run as processes: a crew run (crashed by SIGKILL and
 * resumed, on a real SQLite file) goes SQLite → JSONL → PostgreSQL → server → JSONL unchanged;
 * importing and pushing twice store once; bad files fail with the line; a run recorded offline,
 * crashed after a checkpoint and pushed resumes on the server through RemoteLayer.
 */
import { assert, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { MultiRunClient } from "@multirun/core"
import { describePg, pgSchema, pgUrl, sourceNodeArgs, spawnChild, tempDir } from "@multirun/core/test-utils"
import { PgClientLayer } from "@multirun/sql"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { bundleCli } from "./cliBundle.js"
import { type CrewDatabase, makeCrewDatabase } from "./fixtures/crewDatabase.js"
import { layerSqlite, memoryRemote, TestServer } from "./TestServer.js"

interface Fixture {
  readonly bin: string
  readonly cwd: string
  readonly db: CrewDatabase
}

class ExportFixture extends Context.Tag("@multirun/server/test/Export/Fixture")<ExportFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  ExportFixture,
  Effect.gen(function*() {
    const [bin, cwd, db] = yield* Effect.all([bundleCli, tempDir("export"), makeCrewDatabase], { concurrency: "unbounded" })
    return { bin, cwd, db }
  })
).pipe(Layer.provideMerge(layerSqlite()))

/** Runs a command to its end in the fixture's directory. */
const cli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { bin, cwd } = yield* ExportFixture
    const exit = yield* Effect.flatMap(
      spawnChild(process.execPath, [bin, ...args], { cwd, env: { MULTIRUN_URL: "", MULTIRUN_API_KEY: "" } }),
      (child) => child.exit
    ).pipe(Effect.scoped, Effect.timeout("90 seconds"), Effect.orDie)
    return { code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr }
  })

/** Runs a command that must succeed; its stdout. */
const ok = (...args: ReadonlyArray<string>) =>
  Effect.map(cli(...args), (result) => {
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stderr, "")
    return result.stdout
  })

/** Writes a file in the fixture's directory; its path. */
const file = (name: string, text: string) =>
  Effect.flatMap(ExportFixture, ({ cwd }) =>
    Effect.sync(() => {
      fs.writeFileSync(path.join(cwd, name), text)
      return path.join(cwd, name)
    }))

/** Rows per table of a project (the server's database) or of every project (a store). */
const rows = (sql: SqlClient.SqlClient, project?: string) =>
  Effect.forEach(["multirun_runs", "multirun_agents", "multirun_steps", "multirun_checkpoints"], (table) =>
    Effect.map(
      project === undefined
        ? sql<{ n: number }>`SELECT count(*) AS n FROM ${sql(table)}`
        : sql<{ n: number }>`SELECT count(*) AS n FROM ${sql(table)} WHERE project = ${project}`,
      (result) => Number(result[0]!.n)
    )).pipe(Effect.orDie)

/** A key of a new project of the test server, and that project's name. */
const newProject = (name: string) =>
  Effect.flatMap(TestServer, (server) => {
    const project = `${name}-${Math.random().toString(36).slice(2, 8)}`
    return Effect.map(server.keyFor(project), (apiKey) => ({ project, apiKey, url: server.url }))
  })

describePg("export, import and push", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("multirun export, import, push", (it) => {
    it.scoped("SQLite → JSONL → PostgreSQL → server → JSONL gives the same records; importing twice stores once", () =>
      Effect.gen(function*() {
        const { db } = yield* ExportFixture
        const server = yield* TestServer
        const schema = yield* pgSchema
        const { apiKey, project, url } = yield* newProject("import")
        const pg = ["--database-url", pgUrl, "--schema", schema]
        const remote = ["--url", url, "--api-key", apiKey]

        const fromSqlite = (yield* ok("export", db.crewRunId, "--db", db.filename)) + "\n"
        const lines = fromSqlite.trimEnd().split("\n").map((line) => JSON.parse(line))
        assert.deepStrictEqual(lines[0], {
          format: "multirun.run",
          version: 1,
          runId: db.crewRunId,
          counts: { agents: 5, steps: 10, checkpoints: 4 }
        })
        assert.strictEqual(lines.length, 1 + 1 + 5 + 10 + 4)
        const exported = yield* file("crew.jsonl", fromSqlite)

        assert.strictEqual(
          yield* ok("import", exported, ...pg),
          `imported run ${db.crewRunId}: wrote 1 run, 5 agents, 10 steps, 4 checkpoints; 0 records already stored`
        )
        assert.strictEqual(
          yield* ok("import", exported, ...pg),
          `imported run ${db.crewRunId}: wrote 0 runs, 0 agents, 0 steps, 0 checkpoints; 20 records already stored`
        )
        const pgRows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => rows(sql)).pipe(
          Effect.provide(PgClientLayer({ url: pgUrl, schema }))
        )
        assert.deepStrictEqual(pgRows, [1, 5, 10, 4])

        const fromPg = (yield* ok("export", db.crewRunId, ...pg)) + "\n"
        assert.strictEqual(fromPg, fromSqlite)
        const viaPg = yield* file("crew-pg.jsonl", fromPg)
        yield* ok("import", viaPg, ...remote)
        assert.include(yield* ok("import", viaPg, ...remote), "wrote 0 runs, 0 agents, 0 steps, 0 checkpoints")
        assert.deepStrictEqual(yield* rows(server.sql, project), [1, 5, 10, 4])
        const fromServer = (yield* ok("export", db.crewRunId, ...remote)) + "\n"
        assert.strictEqual(fromServer, fromSqlite)

        // the same run with another checkpoint at version 1: the stores disagree, nothing is written
        const first = lines.find((line) => line.kind === "checkpoint").record
        const other = fromSqlite.replaceAll(first.id, "0190aaaa-other-checkpoint")
        const conflict = yield* cli("import", yield* file("crew-other.jsonl", other), ...remote)
        assert.strictEqual(conflict.code, 1, conflict.stderr)
        assert.include(
          conflict.stderr,
          `multirun: run ${db.crewRunId} already stores checkpoint ${first.id} (version 1), ` +
            `which differs from checkpoint 0190aaaa-other-checkpoint (version 1) of this export`
        )
        assert.deepStrictEqual(yield* rows(server.sql, project), [1, 5, 10, 4])
      }), { timeout: 240_000 })

    it.scoped("a file that is not an export, of an unknown version or cut short fails with the line, writing nothing", () =>
      Effect.gen(function*() {
        const { cwd, db } = yield* ExportFixture
        const lines = (yield* ok("export", db.failedRunId, "--db", db.filename)).split("\n")
        const target = path.join(cwd, "never-created.db")
        const attempt = (name: string, text: string) =>
          Effect.flatMap(file(name, text), (exported) => cli("import", exported, "--db", target))
        const [notJson, version, record, truncated] = yield* Effect.all([
          attempt("not-json.jsonl", [lines[0], lines[1], "{\"kind\": \"agent\", oops", ...lines.slice(3)].join("\n")),
          attempt("version.jsonl", [lines[0]!.replace("\"version\":1", "\"version\":2"), ...lines.slice(1)].join("\n")),
          attempt("record.jsonl", lines.map((line, i) => i === 3 ? line.replace(/"status":"\w+"/, "\"status\":\"paused\"") : line).join("\n")),
          attempt("truncated.jsonl", lines.slice(0, 3).join("\n"))
        ], { concurrency: "unbounded" })
        const expect = (result: typeof notJson, message: string) => {
          assert.strictEqual(result.code, 1, result.stderr)
          assert.strictEqual(result.stderr.trim().split("\n").length, 1, result.stderr)
          assert.include(result.stderr, message)
        }
        expect(notJson, `not-json.jsonl: line 3: not JSON`)
        expect(version, `version.jsonl: line 1: export format version 2 is not known to this multirun, which reads version 1`)
        expect(record, `record.jsonl: line 4: the record does not decode`)
        expect(truncated, `truncated.jsonl: line 3: the header announces 1 run, 1 agents, 2 steps and 0 checkpoints, the file holds 1, 1, 0 and 0`)
        assert.isFalse(fs.existsSync(target))

        const { url } = yield* TestServer
        const [noServer, unreachable, noRun, missing] = yield* Effect.all([
          cli("push", "--db", db.filename),
          cli("push", "--db", db.filename, "--url", "http://127.0.0.1:9", "--api-key", "k"),
          cli("push", "--db", db.filename, "--url", url, "--api-key", "k", "--run", "no-such-run"),
          cli("export", "no-such-run", "--db", db.filename)
        ], { concurrency: "unbounded" })
        expect(noServer, "multirun: push needs --url URL --api-key KEY (or MULTIRUN_URL and MULTIRUN_API_KEY)")
        expect(unreachable, "multirun: cannot write runs: no multirun server answers at this URL")
        expect(noRun, `multirun: run no-such-run not found in ${db.filename}`)
        expect(missing, "multirun: run no-such-run not found")
      }), { timeout: 240_000 })

    it.scoped("push --run and --since choose the runs; pushing twice stores once", () =>
      Effect.gen(function*() {
        const { db } = yield* ExportFixture
        const server = yield* TestServer
        const one = yield* newProject("push-run")
        const out = yield* ok("push", "--db", db.filename, "--url", one.url, "--api-key", one.apiKey, "--run", db.failedRunId)
        assert.include(out, `pushed run ${db.failedRunId} (lonely-failure): wrote 1 run, 1 agent, 2 steps, 0 checkpoints`)
        assert.deepStrictEqual(yield* rows(server.sql, one.project), [1, 1, 2, 0])

        const failed = JSON.parse(yield* ok("runs", "show", db.failedRunId, "--db", db.filename, "--json")).run
        const since = DateTime.formatIso(DateTime.unsafeMake(Math.floor(failed.startedAt)))
        const later = yield* newProject("push-since")
        const sinceOut = yield* ok("push", "--db", db.filename, "--url", later.url, "--api-key", later.apiKey, "--since", since)
        assert.include(sinceOut, `pushed 1 run(s) to ${later.url}: wrote 1 run`)
        assert.deepStrictEqual(yield* rows(server.sql, later.project), [1, 1, 2, 0])
        assert.strictEqual(
          yield* ok("push", "--db", db.filename, "--url", later.url, "--api-key", later.apiKey, "--since", "2999-01-01"),
          `No runs to push from ${db.filename}.`
        )

        const all = yield* newProject("push-all")
        const first = yield* ok("push", "--db", db.filename, "--url", all.url, "--api-key", all.apiKey)
        assert.include(first, `pushed 2 run(s) to ${all.url}: wrote 2 runs, 6 agents, 12 steps, 4 checkpoints; 0 records already stored`)
        const second = yield* ok("push", "--db", db.filename, "--url", all.url, "--api-key", all.apiKey)
        assert.include(second, `pushed 2 run(s) to ${all.url}: wrote 0 runs, 0 agents, 0 steps, 0 checkpoints; 24 records already stored`)
        assert.deepStrictEqual(yield* rows(server.sql, all.project), [2, 6, 12, 4])
      }), { timeout: 240_000 })

    it.scoped("a run recorded offline and crashed after a checkpoint, once pushed, resumes on the server", () =>
      Effect.gen(function*() {
        const { cwd } = yield* ExportFixture
        const { apiKey, url } = yield* newProject("resume")
        const filename = path.join(cwd, "offline", "runs.db")
        const fixture = (name: string, env: Record<string, string>) =>
          Effect.flatMap(
            spawnChild(process.execPath, [...sourceNodeArgs, path.join(import.meta.dirname, "fixtures", name)], { env }),
            (child) => child.exit
          ).pipe(
            Effect.scoped,
            Effect.map((exit) => ({ ...exit, events: exit.stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)) }))
          )
        const offline = yield* fixture("offline.ts", { MODE: "start", MR_FILE: filename })
        assert.strictEqual(offline.code, 3, offline.stderr)
        const runId = offline.events.find((e) => e.event === "started").runId as string

        const pushed = yield* ok("push", "--db", filename, "--url", url, "--api-key", apiKey)
        assert.match(pushed, /wrote 1 run, 1 agent, [34] steps, 1 checkpoint;/)

        const resumed = yield* fixture("resumable.ts", { MODE: "resume", RUN_ID: runId, MULTIRUN_URL: url, MULTIRUN_API_KEY: apiKey })
        assert.strictEqual(resumed.code, 0, resumed.stderr)
        assert.isTrue(resumed.events.find((e) => e.event === "started").replaying)
        // s1..s3 are covered by the checkpoint: replayed, not executed again
        assert.deepStrictEqual(resumed.events.find((e) => e.event === "done").executed, ["s4", "s5"])
        assert.deepStrictEqual(
          resumed.events.filter((e) => e.event === "step").map((e) => e.answer),
          ["answer 1", "answer 2", "answer 3", "answer 4", "answer 5"]
        )

        // a second push does not move the resumed run back to the crashed one
        const again = yield* ok("push", "--db", filename, "--url", url, "--api-key", apiKey)
        assert.include(again, "wrote 0 runs, 0 agents, 0 steps, 0 checkpoints")
        const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(memoryRemote({ url, apiKey })))
        assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).status, "completed")
        const [run, steps] = [Option.getOrThrow(yield* client.getRun(runId)), yield* client.listSteps(runId)]
        const replayed = steps.filter((s) => (run.replays ?? []).some((r) => r.steps.some(([from, to]) => s.seq >= from && s.seq < to)))
        assert.deepStrictEqual(replayed.map((s) => s.name), ["s1", "s2", "s3"])
      }), { timeout: 240_000 })
  })
})
