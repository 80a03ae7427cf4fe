/**
 * `multirun runs|checkpoints|ui` and the `serve` request log, run as processes against a known
 * SQLite file (a crew run killed by SIGKILL and resumed with drift, and a failed run), a file
 * holding a run killed and never resumed (stalled), a file holding a run with a nested step, a
 * drifted call and failed steps (a failure with data, a defect), a real server on a loopback
 * port (`--url`), and the error lines.
 */
import { assert, layer } from "@effect/vitest"
import { step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { runRecord, spawnChild, tempDir, tempFile } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import { Clock, Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { bundleCli } from "./cliBundle.js"
import { type CrewDatabase, makeCrewDatabase, makeStalledDatabase, type StalledDatabase } from "./fixtures/crewDatabase.js"
import { recordForkedRuns } from "./fixtures/forkedRuns.js"
import { makeMarksDatabase, type MarksDatabase } from "./fixtures/marksDatabase.js"
import { layerSqlite, memoryRemote, TestServer } from "./TestServer.js"

/** What every test of this file shares: the bundled command, the crew database, a remote run. */
interface Fixture {
  readonly bin: string
  /** One working directory for every command (with no `.multirun/` in it). */
  readonly cwd: string
  readonly db: CrewDatabase
  readonly stalled: StalledDatabase
  readonly marks: MarksDatabase
  readonly apiKey: string
  readonly remoteRunId: string
}

class CliFixture extends Context.Tag("@multirun/server/test/RunsCli/Fixture")<CliFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  CliFixture,
  Effect.gen(function*() {
    const server = yield* TestServer
    const [bin, cwd, db, stalled, marks] = yield* Effect.all(
      [bundleCli, tempDir("cli"), makeCrewDatabase, makeStalledDatabase, makeMarksDatabase],
      { concurrency: "unbounded" }
    )
    const apiKey = yield* server.keyFor("cli")
    const remoteRunId = yield* Effect.gen(function*() {
      yield* Effect.succeed({ ok: true }).pipe(step("fetch", { kind: "tool_call", input: { url: "x" } }))
    }).pipe(
      withRun({ name: "remote-run", tags: ["served"] }),
      Effect.zipRight(Effect.promise(() =>
        fetch(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${apiKey}` } }).then((r) => r.json())
      )),
      Effect.map((runs: any) => runs[0].id as string),
      Effect.provide(memoryRemote({ url: server.url, apiKey }))
    )
    return { bin, cwd, db, stalled, marks, apiKey, remoteRunId }
  })
).pipe(Layer.provideMerge(layerSqlite()))

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end. */
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const { bin, cwd } = yield* CliFixture
    const exit = yield* Effect.flatMap(
      spawnChild(process.execPath, [bin, ...args], { cwd, env: { MULTIRUN_URL: "", MULTIRUN_API_KEY: "", ...env } }),
      (child) => child.exit
    ).pipe(Effect.scoped, Effect.timeout("90 seconds"), Effect.orDie)
    return { code: exit.code, stdout: exit.stdout.join("\n"), stderr: exit.stderr } satisfies Result
  })

/** Starts a long-running command in the scope and waits for the stdout line that matches. */
const started = (args: ReadonlyArray<string>, pattern: RegExp) =>
  Effect.gen(function*() {
    const { bin, cwd } = yield* CliFixture
    const child = yield* spawnChild(process.execPath, [bin, ...args], { cwd })
    const line = yield* child.line(pattern).pipe(Effect.timeout("30 seconds"), Effect.orDie)
    return { child, match: pattern.exec(line)! }
  })

/** A port of 127.0.0.1 held by another listener for the scope. */
const busyPort = Effect.acquireRelease(
  Effect.async<net.Server>((resume) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as net.AddressInfo).port))

/** An error is one line on stderr, no stack trace. */
const oneLine = (result: Result, expected: string) => {
  assert.strictEqual(result.code, 1, result.stderr)
  assert.strictEqual(result.stderr.trim().split("\n").length, 1, result.stderr)
  assert.include(result.stderr, expected)
  assert.notInclude(result.stderr, "    at ")
}

const all = <const A extends ReadonlyArray<Effect.Effect<any, any, any>>>(effects: A) =>
  Effect.all(effects, { concurrency: "unbounded" })

layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("multirun runs, checkpoints and ui", (it) => {
  it.effect("runs list prints a table, --json the records, and filters", () =>
    Effect.gen(function*() {
      const { db } = yield* CliFixture
      const [table, json, failed, tagged] = yield* all([
        cli(["runs", "list", "--db", db.filename]),
        cli(["runs", "list", "--db", db.filename, "--json"]),
        cli(["runs", "list", "--db", db.filename, "--status", "failed", "--json"]),
        cli(["runs", "list", "--db", db.filename, "--tag", "nightly", "--limit", "5"])
      ])
      assert.strictEqual(table.code, 0, table.stderr)
      const lines = table.stdout.trim().split("\n")
      assert.match(lines[0]!, /^ID\s+NAME\s+STATUS\s+STARTED\s+WALL\s+STEPS\s+TOKENS\s+COST\s+DRIFT\s+PARENT$/)
      assert.match(lines[1]!, new RegExp(`^${db.failedRunId}\\s+lonely-failure\\s+failed\\s`))
      // the crew's resume drifted once: its DRIFT cell, under the header's; its steps are those
      // executed over both attempts (the failed lookup ran in each)
      assert.match(lines[2]!, new RegExp(`^${db.crewRunId}\\s+crew\\s+completed\\s.*\\s10\\s+1,138\\s+\\$0\\.0023\\s+⚠ 1$`))
      assert.strictEqual(lines[2]!.indexOf("⚠ 1"), lines[0]!.indexOf("DRIFT"))
      const runs = JSON.parse(json.stdout)
      assert.deepStrictEqual(runs.map((r: any) => r.name), ["lonely-failure", "crew"])
      assert.strictEqual(runs[1].stepCount, 10)
      assert.deepStrictEqual(runs.map((r: any) => r.drifts), [0, 1])
      assert.strictEqual(runs[1].inputTokens + runs[1].outputTokens, 1138)
      assert.deepStrictEqual(JSON.parse(failed.stdout).map((r: any) => r.id), [db.failedRunId])
      assert.deepStrictEqual(tagged.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[1]), ["crew"])
    }), { timeout: 240_000 })

  it.effect("runs show prints the tree with attempts, usage, replayed and drift marks, and --json the records", () =>
    Effect.gen(function*() {
      const { db } = yield* CliFixture
      const [tree, json, failed] = yield* all([
        cli(["runs", "show", db.crewRunId, "--db", db.filename]),
        cli(["runs", "show", db.crewRunId, "--db", db.filename, "--json"]),
        cli(["runs", "show", db.failedRunId, "--db", db.filename])
      ])
      assert.strictEqual(tree.code, 0, tree.stderr)
      const out = tree.stdout
      assert.match(
        out.split("\n")[0]!,
        /^crew {2}completed {2}wall \S+ m?s {2}steps 10 {2}tokens 1,138 \([\d,]+ in · [\d,]+ out · [\d,]+ cached\) {2}cost \$0\.0023 {2}\(4 replayed\) {2}⚠ 1 drift$/
      )
      assert.include(out, "tags nightly, viewer-test")
      assert.match(out, /└─ writer {2}completed {2}2 attempts {2}steps 4/)
      assert.match(out, /├─ attempt 1 {2}interrupted {2}steps 1 .*stopped before a checkpoint covered it/)
      assert.match(out, /#\d+ plan \(llm_call · fake-1\) {2}\d+ tok \(\d+ in · \d+ out · \d+ cached\) {2}\$0\.\d+ {2}\d+ ms {2}⚠ drift input\.prompt$/m)
      assert.match(out, /lookup \(retrieval\) .*failed \(failure\) {2}index offline/)
      assert.match(out, /checkpoints: v1 planned .*, v2 researched/)
      // the resume says which records it replayed, by seq: no step rows of their own
      assert.match(out, /resumed at \+\S+ m?s \(#\d+\) from checkpoint "researched" v2 {2}↺ replayed 4 \(#[\d–#, ]+\)$/m)
      const parsed = JSON.parse(json.stdout)
      assert.strictEqual(parsed.run.id, db.crewRunId)
      assert.strictEqual(parsed.agents.length, 5)
      assert.strictEqual(parsed.steps.length, 10)
      assert.strictEqual(parsed.run.replays.length, 1)
      assert.strictEqual(parsed.checkpoints.length, 4)
      // a model without a price: the step's cost is unknown, and so is part of the totals
      assert.strictEqual(failed.code, 0, failed.stderr)
      assert.match(failed.stdout, /#1 estimate \(llm_call · mystery-1\) {2}42 tok \(30 in · 12 out\) {2}cost unknown/)
      assert.match(failed.stdout.split("\n")[0]!, /lonely-failure {2}failed .*steps 2 {2}tokens 42 \(30 in · 12 out\) {2}cost unknown$/)
    }), { timeout: 240_000 })

  it.effect("runs show draws a nested step under its parent, marks the drifted call with its path, counts drift and names error kinds", () =>
    Effect.gen(function*() {
      const { marks } = yield* CliFixture
      const [tree, json, list] = yield* all([
        cli(["runs", "show", marks.runId, "--db", marks.filename]),
        cli(["runs", "show", marks.runId, "--db", marks.filename, "--json"]),
        cli(["runs", "list", "--db", marks.filename])
      ])
      assert.strictEqual(tree.code, 0, tree.stderr)
      const lines = tree.stdout.split("\n")
      assert.match(lines[0]!, /^marks {2}completed {2}.* {2}\(1 replayed\) {2}⚠ 1 drift$/)
      // fetch ran inside outline: the line under it, one level deeper
      const outline = lines.findIndex((line) => line.includes("#0 outline (function)"))
      assert.match(lines[outline + 1]!, /└─ #1 fetch \(tool_call\) {2}0 tok/)
      assert.strictEqual(lines[outline + 1]!.indexOf("#1"), lines[outline]!.indexOf("#0") + 3)
      // the resumed call of ask with another temperature, and only it, is marked with the path
      assert.deepStrictEqual(
        lines.filter((line) => line.includes("⚠ drift")).map((line) => / #\d+ (\w+) .*(⚠ drift \S+)$/.exec(line)?.slice(1)),
        [["ask", "⚠ drift input.temperature"]]
      )
      assert.match(tree.stdout, /#\d+ publish \(tool_call\) {2}0 tok {2}\$0 {2}\d+ ms {2}failed \(failure\) {2}rate limited$/m)
      assert.match(tree.stdout, /#\d+ render \(function\) {2}0 tok {2}\$0 {2}\d+ ms {2}failed \(defect\) {2}the renderer crashed$/m)
      assert.match(list.stdout.trim().split("\n")[1]!, /\$0\.000200 {2}⚠ 1$/)
      // --json: the records as stored, with the marks
      const { run, steps } = JSON.parse(json.stdout)
      assert.strictEqual(run.drifts, 1)
      const named = (name: string) => steps.filter((s: any) => s.name === name)
      assert.strictEqual(named("fetch")[0].parentId, named("outline")[0].id)
      assert.deepStrictEqual(steps.filter((s: any) => s.drift != null).map((s: any) => [s.name, s.drift]), [["ask", "input.temperature"]])
      assert.deepStrictEqual(named("publish")[0].error, {
        tag: "RateLimited",
        message: "rate limited",
        kind: "failure",
        data: { retryAfterMs: 30_000 }
      })
      assert.strictEqual(named("render")[0].error.kind, "defect")
    }), { timeout: 240_000 })

  it.effect("a run whose process died is stalled: list and show say so, with its owner's last sighting and the resume code", () =>
    Effect.gen(function*() {
      const { db, stalled } = yield* CliFixture
      const { filename, runId } = stalled
      const [table, json, onlyStalled, onlyRunning, none, show] = yield* all([
        cli(["runs", "list", "--db", filename]),
        cli(["runs", "list", "--db", filename, "--json"]),
        cli(["runs", "list", "--db", filename, "--status", "stalled", "--json"]),
        cli(["runs", "list", "--db", filename, "--status", "running", "--json"]),
        cli(["runs", "list", "--db", db.filename, "--status", "stalled"]),
        cli(["runs", "show", runId, "--db", filename])
      ])
      assert.strictEqual(table.code, 0, table.stderr)
      const lines = table.stdout.trim().split("\n")
      assert.match(lines[1]!, new RegExp(`^${runId}\\s+stuck-crew\\s+stalled\\s+\\S+ \\S+\\s+\\S+ m?s\\s+1\\s`))
      const hint = `resume it with withRun({ name: "stuck-crew", resume: { runId: "${runId}", latest: true } })`
      assert.strictEqual(lines[2], "")
      assert.match(
        lines[3]!,
        new RegExp(`^${runId} stalled: its owner \\(pid \\d+ on .+\\) was last seen \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(.+ ago\\) and its lease expired; `)
      )
      assert.isTrue(lines[3]!.endsWith(hint), lines[3])
      const [record] = JSON.parse(json.stdout)
      assert.strictEqual(record.status, "running", "the stored status is left as it is")
      assert.match(record.stalled.owner, /^pid \d+ on /)
      assert.isAtLeast(record.stalled.lastSeenAt, record.startedAt)
      assert.deepStrictEqual(JSON.parse(onlyStalled.stdout).map((r: any) => r.id), [runId])
      assert.deepStrictEqual(JSON.parse(onlyRunning.stdout), [])
      assert.strictEqual(none.stdout.trim(), "No runs.")
      assert.match(show.stdout.split("\n")[0]!, /^stuck-crew {2}stalled {2}wall \S+ m?s {2}steps 1 /)
      assert.include(show.stdout, hint)
      // its wall time stopped at the owner's last sighting: a second later it reads the same
      yield* Effect.sleep("1100 millis")
      const again = yield* cli(["runs", "list", "--db", filename])
      assert.strictEqual(again.stdout.trim().split("\n")[1], lines[1])
    }), { timeout: 240_000 })

  it.scoped("totals of unknown cost read unknown or ≥ the known sum; a fork's inheritance is counted apart", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile()
      const { fork, parent, unpriced } = yield* Effect.provide(recordForkedRuns, SqliteLayer({ filename }))
      const [list, show] = yield* all([cli(["runs", "list", "--db", filename]), cli(["runs", "show", fork, "--db", filename])])
      const row = (id: string) => list.stdout.split("\n").find((line) => line.startsWith(id)) ?? ""
      assert.match(row(unpriced), / 1 {2,}10 {2,}unknown( |$)/, list.stdout)
      assert.match(row(parent), / 3 {2,}30 {2,}≥ \$0\.5000 \(2 unpriced\)( |$)/)
      assert.match(row(fork), / 1 \(\+2 inherited\) {2,}10 {2,}unknown {2,}fork of /)
      assert.match(show.stdout.split("\n")[0]!, /cost unknown {2}\+2 inherited steps \(20 tokens, ≥ \$0\.5000 \(1 unpriced\)\)/)
    }), { timeout: 240_000 })

  it.effect("a server's stalled runs read the same through --url, judged on the server's side", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const apiKey = yield* server.keyFor("cli-stalled")
      const now = yield* Clock.currentTimeMillis
      // a run that started a minute ago, whose owner took its lease for 100 ms and was not seen again
      const lastSeenAt = yield* Effect.gen(function*() {
        const client = yield* MultiRunClient
        yield* client.writeRun(runRecord("remote-stalled", { name: "remote-stalled", startedAt: now - 60_000 }))
        yield* client.writeRun(runRecord("remote-live", { name: "remote-live", startedAt: now - 60_000 }))
        yield* client.flush
        const gone = yield* client.acquireLease({ runId: "remote-stalled", owner: "pid 7 on elsewhere", ttlMs: 100 })
        yield* client.acquireLease({ runId: "remote-live", owner: "pid 8 on elsewhere", ttlMs: 600_000 })
        yield* Effect.sleep("150 millis")
        return gone.acquiredAt
      }).pipe(Effect.provide(memoryRemote({ url: server.url, apiKey })))
      const source = ["--url", server.url, "--api-key", apiKey]
      const [table, onlyStalled, show] = yield* all([
        cli(["runs", "list", ...source]),
        cli(["runs", "list", ...source, "--status", "stalled", "--json"]),
        cli(["runs", "show", "remote-stalled", ...source])
      ])
      assert.match(table.stdout, /^remote-live\s+remote-live\s+running\s/m, table.stderr)
      // the wall time stops at the lease the owner took: a minute and the moments the writes took
      // before it (0 s on a quiet machine, more on a busy one)
      const wall = `1 min ${Math.round((lastSeenAt - now) / 1000)} s`
      assert.match(table.stdout, new RegExp(`^remote-stalled\\s+remote-stalled\\s+stalled\\s+\\S+ \\S+\\s+${wall}\\s`, "m"))
      assert.include(table.stdout, "remote-stalled stalled: its owner (pid 7 on elsewhere) was last seen")
      const [record] = JSON.parse(onlyStalled.stdout)
      assert.deepStrictEqual([record.id, record.stalled], ["remote-stalled", { owner: "pid 7 on elsewhere", lastSeenAt }])
      assert.isTrue(show.stdout.startsWith(`remote-stalled  stalled  wall ${wall} `), show.stdout)
    }), { timeout: 240_000 })

  it.effect("checkpoints list and diff show versions, changed values and steps between", () =>
    Effect.gen(function*() {
      const { db } = yield* CliFixture
      const list = JSON.parse((yield* cli(["checkpoints", "list", db.crewRunId, "--db", db.filename, "--json"])).stdout)
      assert.deepStrictEqual(list.map((c: any) => `${c.version} ${c.name}`), ["1 planned", "2 researched", "3 planned", "4 researched"])
      const [table, diff, diffJson] = yield* all([
        cli(["checkpoints", "list", db.crewRunId, "--db", db.filename]),
        cli(["checkpoints", "diff", list[0].id, list[1].id, "--db", db.filename]),
        cli(["checkpoints", "diff", list[0].id, list[1].id, "--db", db.filename, "--json"])
      ])
      assert.match(table.stdout.split("\n")[0]!, /^VERSION\s+NAME\s+ID\s+CREATED\s+STEPS\s+TOKENS\s+COST\s+STATE KEYS$/)
      assert.match(table.stdout, new RegExp(`v2\\s+researched\\s+${list[1].id}\\s`))
      assert.include(diff.stdout, `~ run.phase: "planned" → "researched"`)
      assert.match(diff.stdout, /\+ run\.notes = \["answer to Summarize checkpoints","answer to Summarize drift"\]/)
      assert.include(diff.stdout, "4 step(s) completed between:")
      const parsed = JSON.parse(diffJson.stdout)
      assert.deepStrictEqual(parsed.changed, [{ key: "run.phase", before: "planned", after: "researched" }])
      assert.deepStrictEqual(parsed.steps.map((s: any) => s.name).sort(), ["search", "search", "summarize", "summarize"])
    }), { timeout: 240_000 })

  it.effect("reads a server with --url/--api-key or MULTIRUN_URL/MULTIRUN_API_KEY", () =>
    Effect.gen(function*() {
      const { apiKey, remoteRunId } = yield* CliFixture
      const { url } = yield* TestServer
      const [flags, env, show] = yield* all([
        cli(["runs", "list", "--url", url, "--api-key", apiKey, "--json"]),
        cli(["runs", "list"], { MULTIRUN_URL: url, MULTIRUN_API_KEY: apiKey }),
        cli(["runs", "show", remoteRunId], { MULTIRUN_URL: url, MULTIRUN_API_KEY: apiKey })
      ])
      assert.deepStrictEqual(JSON.parse(flags.stdout).map((r: any) => r.name), ["remote-run"], flags.stderr)
      assert.match(env.stdout, new RegExp(`${remoteRunId}\\s+remote-run\\s+completed`))
      assert.match(show.stdout, /#0 fetch \(tool_call\)/)
    }), { timeout: 240_000 })

  it.scoped("prints errors as one line with exit code 1", () =>
    Effect.gen(function*() {
      const { db } = yield* CliFixture
      const { url } = yield* TestServer
      const notSqlite = yield* tempFile("not-a-db.db")
      yield* Effect.sync(() => fs.writeFileSync(notSqlite, "this is not a database, it is a text file"))
      const [missingRun, missingDb, twoSources, refused, unreachable, noKey, badCheckpoint, notADatabase] = yield* all([
        cli(["runs", "show", "no-such-run", "--db", db.filename]),
        cli(["runs", "list", "--db", "nothing-here.db"]),
        cli(["runs", "list", "--db", db.filename, "--url", url]),
        cli(["runs", "list", "--url", url, "--api-key", "mr_wrong"]),
        cli(["runs", "list", "--url", "http://127.0.0.1:9", "--api-key", "k"]),
        cli(["runs", "list", "--url", url]),
        cli(["checkpoints", "diff", "a", "b", "--db", db.filename]),
        cli(["runs", "list", "--db", notSqlite])
      ])
      oneLine(missingRun, "multirun: run no-such-run not found")
      oneLine(missingDb, "multirun: no database at nothing-here.db")
      oneLine(twoSources, "multirun: give one of --db, --database-url and --url")
      oneLine(refused, "multirun: cannot read runs: the server refused the API key")
      oneLine(unreachable, "multirun: cannot read runs: no multirun server answers at this URL")
      assert.include(unreachable.stderr, "http://127.0.0.1:9")
      oneLine(noKey, "--url needs --api-key KEY")
      oneLine(badCheckpoint, "checkpoint a")
      oneLine(notADatabase, "is not a SQLite database")
      const verbose = yield* cli(["runs", "show", "no-such-run", "--db", db.filename, "--verbose"])
      assert.strictEqual(verbose.code, 1)
      assert.isAbove(verbose.stderr.trim().split("\n").length, 1)
    }), { timeout: 240_000 })

  it.scoped("ui serves the viewer read-only without a key on 127.0.0.1; a port in use is one line", () =>
    Effect.gen(function*() {
      const { db } = yield* CliFixture
      yield* Effect.scoped(Effect.gen(function*() {
        const ui = yield* started(["ui", "--db", db.filename, "--port", "0"], /multirun ui: (http:\/\/127\.0\.0\.1:\d+)\//)
        const url = ui.match[1]!
        yield* Effect.promise(async () => {
          const runs = await fetch(`${url}/api/runs`).then((r) => r.json()) as Array<any>
          assert.deepStrictEqual(runs.map((r) => r.name), ["lonely-failure", "crew"])
          const page = await fetch(`${url}/runs/${db.crewRunId}`)
          assert.strictEqual(page.status, 200)
          assert.include(page.headers.get("content-security-policy") ?? "", "script-src 'self'")
          const write = await fetch(`${url}/api/ingest`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })
          assert.strictEqual(write.status, 405)
        })
        yield* ui.child.line(/POST \/api\/ingest 405 \d+ ms/).pipe(Effect.timeout("10 seconds"), Effect.orDie)
        yield* ui.child.line(/GET \/api\/runs 200 \d+ ms/).pipe(Effect.timeout("10 seconds"), Effect.orDie)
        yield* ui.child.kill("SIGINT")
        yield* ui.child.exit
      }))
      const port = yield* busyPort
      const dir = yield* tempDir("serve")
      const [uiBusy, serveBusy] = yield* all([
        cli(["ui", "--db", db.filename, "--port", String(port)]),
        cli(["serve", "--db", `${dir}/s.db`, "--port", String(port)])
      ])
      oneLine(uiBusy, `multirun: port ${port} is in use`)
      oneLine(serveBusy, `multirun: port ${port} is in use`)
    }), { timeout: 240_000 })

  it.scoped("serve logs one line per request: method, path, status, ms", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("serve")
      const serve = yield* started(["serve", "--db", `${dir}/s.db`, "--port", "0"], /listening on (http:\/\/\S+) /)
      yield* Effect.promise(async () => {
        await fetch(`${serve.match[1]}/api/health`)
        await fetch(`${serve.match[1]}/api/runs`)
      })
      yield* serve.child.line(/^GET \/api\/health 200 \d+ ms$/).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      yield* serve.child.line(/^GET \/api\/runs 401 \d+ ms$/).pipe(Effect.timeout("10 seconds"), Effect.orDie)
      yield* serve.child.kill("SIGINT")
      yield* serve.child.exit
    }), { timeout: 240_000 })
})
