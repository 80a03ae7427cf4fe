/**
 * `multirun runs|checkpoints|ui` and the `serve` request log, run as processes against a known
 * SQLite file (a crew run killed by SIGKILL and resumed with drift, and a failed run), a real
 * server on a loopback port (`--url`), and the error lines.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { RemoteLayer, step, withRun } from "@multirun/core"
import { Effect, Exit, Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { bundleCli } from "./cliBundle.js"
import { type CrewDatabase, makeCrewDatabase } from "./fixtures/crewDatabase.js"
import { startServer, type TestServer, tempDir } from "./utils.js"

let bin = path.join(import.meta.dirname, "..", "bin", "multirun.js")
let workDir: string | undefined
/** One working directory for every command (with no `.multirun/` in it). */
const cwd = () => workDir ??= tempDir()

interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Result> =>
  new Promise((resolve) => {
    const clean: Record<string, string | undefined> = { ...process.env, MULTIRUN_URL: "", MULTIRUN_API_KEY: "", ...env }
    for (const name of ["MULTIRUN_URL", "MULTIRUN_API_KEY"]) if (clean[name] === "") delete clean[name]
    execFile(process.execPath, [bin, ...args], { cwd: cwd(), env: clean, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    })
  })

/** Spawns a long-running command and resolves once stdout matches. */
const started = (args: ReadonlyArray<string>, pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: cwd() })
    let out = ""
    child.stdout!.on("data", (chunk) => {
      out += chunk
      const match = pattern.exec(out)
      if (match) resolve({ child, match, output: () => out })
    })
    child.once("exit", (code) => reject(new Error(`exited with ${code}: ${out}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.removeAllListeners("exit")
    if (child.exitCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGINT")
  })

const busyPort = (): Promise<net.Server> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** An error is one line on stderr, no stack trace. */
const oneLine = (result: Result, expected: string) => {
  assert.strictEqual(result.code, 1, result.stderr)
  assert.strictEqual(result.stderr.trim().split("\n").length, 1, result.stderr)
  assert.include(result.stderr, expected)
  assert.notInclude(result.stderr, "    at ")
}

describe("multirun runs, checkpoints and ui", () => {
  const scope = Effect.runSync(Scope.make())
  let db: CrewDatabase
  let server: TestServer
  let apiKey = ""
  let remoteRunId = ""

  beforeAll(async () => {
    bin = await bundleCli()
    db = await makeCrewDatabase(path.join(tempDir(), "runs.db"))
    server = await Effect.runPromise(Scope.extend(startServer({ filename: path.join(tempDir(), "server.db") }), scope))
    apiKey = await Effect.runPromise(server.keyFor("cli"))
    remoteRunId = await Effect.runPromise(
      Effect.gen(function*() {
        yield* Effect.succeed({ ok: true }).pipe(step("fetch", { kind: "tool_call", input: { url: "x" } }))
        return ""
      }).pipe(
        withRun({ name: "remote-run", tags: ["served"] }),
        Effect.zipRight(Effect.void),
        Effect.provide(RemoteLayer({ url: server.url, apiKey })),
        Effect.zipRight(Effect.promise(() => fetch(`${server.url}/api/runs`, { headers: { authorization: `Bearer ${apiKey}` } }).then((r) => r.json()))),
        Effect.map((runs: any) => runs[0].id as string)
      )
    )
  }, 180_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

  it("runs list prints a table, --json the records, and filters", async () => {
    const [table, json, failed, tagged] = await Promise.all([
      cli(["runs", "list", "--db", db.filename]),
      cli(["runs", "list", "--db", db.filename, "--json"]),
      cli(["runs", "list", "--db", db.filename, "--status", "failed", "--json"]),
      cli(["runs", "list", "--db", db.filename, "--tag", "nightly", "--limit", "5"])
    ])
    assert.strictEqual(table.code, 0, table.stderr)
    const lines = table.stdout.trim().split("\n")
    assert.match(lines[0]!, /^ID\s+NAME\s+STATUS\s+STARTED\s+WALL\s+STEPS\s+TOKENS\s+COST\s+PARENT$/)
    assert.match(lines[1]!, new RegExp(`^${db.failedRunId}\\s+lonely-failure\\s+failed\\s`))
    assert.match(lines[2]!, new RegExp(`^${db.crewRunId}\\s+crew\\s+completed\\s.*\\s9\\s+1,138\\s+\\$0\\.0023$`))
    const runs = JSON.parse(json.stdout)
    assert.deepStrictEqual(runs.map((r: any) => r.name), ["lonely-failure", "crew"])
    assert.strictEqual(runs[1].stepCount, 9)
    assert.deepStrictEqual(JSON.parse(failed.stdout).map((r: any) => r.id), [db.failedRunId])
    assert.deepStrictEqual(tagged.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[1]), ["crew"])
  }, 240_000)

  it("runs show prints the tree with attempts, replayed and drift marks, and --json the records", async () => {
    const [tree, json] = await Promise.all([
      cli(["runs", "show", db.crewRunId, "--db", db.filename]),
      cli(["runs", "show", db.crewRunId, "--db", db.filename, "--json"])
    ])
    assert.strictEqual(tree.code, 0, tree.stderr)
    const out = tree.stdout
    assert.match(out.split("\n")[0]!, /^crew {2}completed {2}wall \S+ s {2}steps 9 {2}tokens 1,138 {2}cost \$0\.0023 {2}\(4 replayed\)$/)
    assert.include(out, "tags nightly, viewer-test")
    assert.match(out, /└─ writer {2}completed {2}2 attempts {2}steps 3/)
    assert.match(out, /├─ attempt 1 {2}interrupted {2}steps 0 .*stopped before a checkpoint covered it/)
    assert.match(out, /#\d+ summarize \(llm_call\) {2}0 ms {2}↺ replayed \(of #3\)/)
    assert.match(out, /#6 plan \(llm_call\) .*⚠ drift: input changed \(recorded #0\)/)
    assert.match(out, /lookup \(retrieval\) .*failed {2}index offline/)
    assert.match(out, /checkpoints: v1 planned .*, v2 researched/)
    assert.match(out, /resumed at \+\S+ s \(#6\) from checkpoint "researched" v2/)
    const parsed = JSON.parse(json.stdout)
    assert.strictEqual(parsed.run.id, db.crewRunId)
    assert.strictEqual(parsed.agents.length, 5)
    assert.strictEqual(parsed.steps.length, 14)
    assert.strictEqual(parsed.checkpoints.length, 4)
  }, 240_000)

  it("checkpoints list and diff show versions, changed values and steps between", async () => {
    const list = JSON.parse((await cli(["checkpoints", "list", db.crewRunId, "--db", db.filename, "--json"])).stdout)
    assert.deepStrictEqual(list.map((c: any) => `${c.version} ${c.name}`), ["1 planned", "2 researched", "3 planned", "4 researched"])
    const [table, diff, diffJson] = await Promise.all([
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
  }, 240_000)

  it("reads a server with --url/--api-key or MULTIRUN_URL/MULTIRUN_API_KEY", async () => {
    const [flags, env, show] = await Promise.all([
      cli(["runs", "list", "--url", server.url, "--api-key", apiKey, "--json"]),
      cli(["runs", "list"], { MULTIRUN_URL: server.url, MULTIRUN_API_KEY: apiKey }),
      cli(["runs", "show", remoteRunId], { MULTIRUN_URL: server.url, MULTIRUN_API_KEY: apiKey })
    ])
    assert.deepStrictEqual(JSON.parse(flags.stdout).map((r: any) => r.name), ["remote-run"], flags.stderr)
    assert.match(env.stdout, new RegExp(`${remoteRunId}\\s+remote-run\\s+completed`))
    assert.match(show.stdout, /#0 fetch \(tool_call\)/)
  }, 240_000)

  it("prints errors as one line with exit code 1", async () => {
    const [missingRun, missingDb, twoSources, refused, unreachable, noKey, badCheckpoint] = await Promise.all([
      cli(["runs", "show", "no-such-run", "--db", db.filename]),
      cli(["runs", "list", "--db", "nothing-here.db"]),
      cli(["runs", "list", "--db", db.filename, "--url", server.url]),
      cli(["runs", "list", "--url", server.url, "--api-key", "mr_wrong"]),
      cli(["runs", "list", "--url", "http://127.0.0.1:9", "--api-key", "k"]),
      cli(["runs", "list", "--url", server.url]),
      cli(["checkpoints", "diff", "a", "b", "--db", db.filename])
    ])
    oneLine(missingRun, "multirun: run no-such-run not found")
    oneLine(missingDb, "multirun: no database at nothing-here.db")
    oneLine(twoSources, "multirun: give one of --db, --database-url and --url")
    oneLine(refused, "unknown API key")
    oneLine(unreachable, "multirun: cannot read runs:")
    oneLine(noKey, "--url needs --api-key KEY")
    oneLine(badCheckpoint, "checkpoint a")
    const verbose = await cli(["runs", "show", "no-such-run", "--db", db.filename, "--verbose"])
    assert.strictEqual(verbose.code, 1)
    assert.isAbove(verbose.stderr.trim().split("\n").length, 1)
  }, 240_000)

  it("ui serves the viewer read-only without a key on 127.0.0.1; a port in use is one line", async () => {
    const ui = await started(["ui", "--db", db.filename, "--port", "0"], /multirun ui: (http:\/\/127\.0\.0\.1:\d+)\//)
    try {
      const url = ui.match[1]!
      const runs = await fetch(`${url}/api/runs`).then((r) => r.json()) as Array<any>
      assert.deepStrictEqual(runs.map((r) => r.name), ["lonely-failure", "crew"])
      const page = await fetch(`${url}/runs/${db.crewRunId}`)
      assert.strictEqual(page.status, 200)
      assert.include(page.headers.get("content-security-policy") ?? "", "script-src 'self'")
      const write = await fetch(`${url}/api/ingest`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } })
      assert.strictEqual(write.status, 405)
      await new Promise((r) => setTimeout(r, 200))
      assert.match(ui.output(), /GET \/api\/runs 200 \d+ ms/)
      assert.match(ui.output(), /POST \/api\/ingest 405 \d+ ms/)
    } finally {
      await stop(ui.child)
    }
    const blocker = await busyPort()
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const [uiBusy, serveBusy] = await Promise.all([
        cli(["ui", "--db", db.filename, "--port", String(port)]),
        cli(["serve", "--db", path.join(tempDir(), "s.db"), "--port", String(port)])
      ])
      oneLine(uiBusy, `multirun: port ${port} is in use`)
      oneLine(serveBusy, `multirun: port ${port} is in use`)
    } finally {
      blocker.close()
    }
  }, 240_000)

  it("serve logs one line per request: method, path, status, ms", async () => {
    const serve = await started(["serve", "--db", path.join(tempDir(), "s.db"), "--port", "0"], /listening on (http:\/\/\S+) /)
    try {
      await fetch(`${serve.match[1]}/api/health`)
      await fetch(`${serve.match[1]}/api/runs`)
      await new Promise((r) => setTimeout(r, 200))
      assert.match(serve.output(), /^GET \/api\/health 200 \d+ ms$/m)
      assert.match(serve.output(), /^GET \/api\/runs 401 \d+ ms$/m)
    } finally {
      await stop(serve.child)
    }
  }, 240_000)
})
