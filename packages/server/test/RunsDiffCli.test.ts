/**
 * `multirun runs diff A B [--json]` run as a process over a SQLite file, a PostgreSQL schema and a
 * real server (`--url`), on two runs of one program (`draft` v1 and v2, see
 * fixtures/comparedRuns.ts) and on a fork and its parent; and `GET /api/runs/:a/diff/:b`, which
 * answers 404 for a run of another project.
 */
import { assert, layer } from "@effect/vitest"
import { describePg, pgSchema, pgUrl, tempDir, tempFile } from "@multirun/core/test-utils"
import { PgLayer, SqliteLayer } from "@multirun/sql"
import { Context, Effect, Layer, TestContext } from "effect"
import { bundleCli, runCli } from "./cliBundle.js"
import { recordComparedRuns } from "./fixtures/comparedRuns.js"
import { recordForkedRuns } from "./fixtures/forkedRuns.js"
import { layerSqlite, memoryRemote, TestServer } from "./TestServer.js"

interface Fixture {
  readonly bin: string
  readonly cwd: string
  /** A SQLite file holding `draft` v1 and v2, and the forked runs. */
  readonly filename: string
  readonly v1: string
  readonly v2: string
  readonly parent: string
  readonly fork: string
}

class DiffFixture extends Context.Tag("@multirun/server/test/RunsDiffCli/Fixture")<DiffFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  DiffFixture,
  Effect.gen(function*() {
    const [bin, cwd, filename] = yield* Effect.all([bundleCli, tempDir("diff"), tempFile("runs.db")])
    const { v1, v2 } = yield* Effect.provide(recordComparedRuns, SqliteLayer({ filename }))
    const { fork, parent } = yield* Effect.provide(
      recordForkedRuns.pipe(Effect.provide(TestContext.TestContext)),
      SqliteLayer({ filename })
    )
    return { bin, cwd, filename, v1, v2, parent, fork }
  })
)

const cli = (args: ReadonlyArray<string>) => Effect.flatMap(DiffFixture, ({ bin, cwd }) => runCli(bin, cwd, args))

/** The lines `runs diff v1 v2` prints (the two runs' ids aside). */
const draftLines = (v1: string, v2: string) => [
  `A  draft  completed  ${v1}  tags v1`,
  `B  draft  completed  ${v2}  tags v2`,
  "6 of 7 steps differ",
  "",
  "AGENT       STEP       #  A             B             DIFFERS                                                                        LATENCY  TOKENS  COST",
  "planner     plan       1  #0 completed  #0 completed  output (output.sections[2]), model gpt-4o → gpt-4o-mini                        -60 ms   0       -$0.0017",
  "researcher  search     1  #1 completed  #1 completed  same                                                                           0 ms     0       $0",
  "researcher  search     2  #2 completed  #2 completed  output (output[1])                                                             +10 ms   0       $0",
  "researcher  search     3  —             #3 completed  only in B                                                                      +30 ms   0       $0",
  "researcher  summarize  1  #3 completed  —             only in A                                                                      -40 ms   -50     -$0.0010",
  "writer      write      1  #4 completed  #4 completed  input (input.sections[2]), output (output.text, +1), model gpt-4o → local-llm  -50 ms   +100    unknown",
  "reviewer    review     1  #5 completed  #5 failed     output (output), status completed → failed                                     0 ms     0       $0",
  "",
  "AGENT       STEPS  LATENCY                    TOKENS            COST",
  "planner     1 → 1  120 ms → 60 ms (-60 ms)    100 → 100 (0)     $0.0020 → $0.000300 (-$0.0017)",
  "researcher  3 → 3  120 ms → 120 ms (0 ms)     50 → 0 (-50)      $0.0010 → $0 (-$0.0010)",
  "writer      1 → 1  300 ms → 250 ms (-50 ms)   300 → 400 (+100)  $0.0050 → unknown (unknown)",
  "reviewer    1 → 1  20 ms → 20 ms (0 ms)       0 → 0 (0)         $0 → $0 ($0)",
  "total       6 → 6  560 ms → 450 ms (-110 ms)  450 → 500 (+50)   $0.0080 → ≥ $0.000300 (1 unpriced) (unknown)"
]

const lines = (stdout: string) => stdout.trimEnd().split("\n")

layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("multirun runs diff", (it) => {
  it.effect("prints the aligned steps, what differs and the deltas per step, per agent and in total", () =>
    Effect.gen(function*() {
      const { filename, v1, v2 } = yield* DiffFixture
      const result = yield* cli(["runs", "diff", v1, v2, "--db", filename])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(lines(result.stdout), draftLines(v1, v2))
    }), { timeout: 120_000 })

  it.effect("--json prints the compare as values: unknown costs are null, never 0", () =>
    Effect.gen(function*() {
      const { filename, v1, v2 } = yield* DiffFixture
      const result = yield* cli(["runs", "diff", v1, v2, "--db", filename, "--json"])
      assert.strictEqual(result.code, 0, result.stderr)
      const diff = JSON.parse(result.stdout)
      assert.deepStrictEqual([diff.a.id, diff.b.id, diff.differing, diff.rows.length], [v1, v2, 6, 7])
      assert.deepStrictEqual(
        diff.rows.map((r: any) => [r.agent, r.name, r.occurrence, r.a?.seq ?? null, r.b?.seq ?? null, r.changes.join("+")]),
        [
          ["planner", "plan", 0, 0, 0, "output+model"],
          ["researcher", "search", 0, 1, 1, ""],
          ["researcher", "search", 1, 2, 2, "output"],
          ["researcher", "search", 2, null, 3, ""],
          ["researcher", "summarize", 0, 3, null, ""],
          ["writer", "write", 0, 4, 4, "input+output+model"],
          ["reviewer", "review", 0, 5, 5, "output+status"]
        ]
      )
      const write = diff.rows[5]
      assert.deepStrictEqual([write.inputPaths, write.outputPaths], [["input.sections[2]"], ["output.text", "output.words"]])
      assert.deepStrictEqual([write.a.model, write.b.model, write.a.costUsd, write.b.costUsd, write.costUsd], [
        "gpt-4o",
        "local-llm",
        0.005,
        null,
        null
      ])
      assert.deepStrictEqual([diff.rows[0].latencyMs, diff.rows[0].tokensUsed, diff.rows[0].costUsd], [-60, 0, -0.0017])
      assert.deepStrictEqual(diff.agents.map((a: any) => [a.agent, a.costUsd]), [
        ["planner", -0.0017],
        ["researcher", -0.001],
        ["writer", null],
        ["reviewer", 0]
      ])
      assert.deepStrictEqual(diff.total, {
        a: { steps: 6, latencyMs: 560, tokensUsed: 450, costUsd: 0.008, unpricedSteps: 0 },
        b: { steps: 6, latencyMs: 450, tokensUsed: 500, costUsd: 0.0003, unpricedSteps: 1 },
        latencyMs: -110,
        tokensUsed: 50,
        costUsd: null
      })
    }), { timeout: 120_000 })

  it.effect("a fork compared with its parent: the steps it inherits are the parent's, the same", () =>
    Effect.gen(function*() {
      const { filename, fork, parent } = yield* DiffFixture
      const result = yield* cli(["runs", "diff", parent, fork, "--db", filename])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(lines(result.stdout), [
        `A  parent  completed  ${parent}`,
        `B  fork  completed  ${fork}  (fork of A)`,
        "0 of 3 steps differ",
        "",
        "AGENT   STEP  #  A             B             DIFFERS    LATENCY  TOKENS  COST",
        "writer  a     1  #0 completed  #0 completed  inherited  0 ms     0       $0",
        "writer  b     1  #1 completed  #1 completed  inherited  0 ms     0       unknown",
        "writer  c     1  #2 completed  #0 completed  same       0 ms     0       unknown",
        "",
        "AGENT   STEPS  LATENCY             TOKENS       COST",
        "writer  3 → 3  0 ms → 0 ms (0 ms)  30 → 30 (0)  ≥ $0.5000 (2 unpriced) → ≥ $0.5000 (2 unpriced) (unknown)",
        "total   3 → 3  0 ms → 0 ms (0 ms)  30 → 30 (0)  ≥ $0.5000 (2 unpriced) → ≥ $0.5000 (2 unpriced) (unknown)"
      ])
    }), { timeout: 120_000 })

  it.effect("a run that is not there is one line and exit code 1", () =>
    Effect.gen(function*() {
      const { filename, v1 } = yield* DiffFixture
      const result = yield* cli(["runs", "diff", v1, "no-such-run", "--db", filename])
      assert.strictEqual(result.code, 1)
      assert.strictEqual(result.stdout, "")
      assert.strictEqual(result.stderr.trim(), "multirun: run no-such-run not found")
    }), { timeout: 120_000 })
})

layer(Layer.merge(fixtureLayer, layerSqlite()), { excludeTestServices: true, timeout: "180 seconds" })("runs diff --url", (it) => {
  it.effect("reads through a server the same; a run of another project is not found, by the CLI and by the API", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const [key, otherKey] = yield* Effect.all([server.keyFor("diff"), server.keyFor("diff-other")])
      const { v1, v2 } = yield* Effect.provide(recordComparedRuns, memoryRemote({ url: server.url, apiKey: key }))
      const other = yield* Effect.provide(recordComparedRuns, memoryRemote({ url: server.url, apiKey: otherKey }))
      const result = yield* cli(["runs", "diff", v1, v2, "--url", server.url, "--api-key", key])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(lines(result.stdout), draftLines(v1, v2))
      const foreign = yield* cli(["runs", "diff", v1, other.v2, "--url", server.url, "--api-key", key])
      assert.strictEqual(foreign.stderr.trim(), `multirun: run ${other.v2} not found`)
      const get = (path: string) =>
        Effect.promise(() =>
          fetch(`${server.url}/api${path}`, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
            status: r.status,
            body: await r.json() as any
          }))
        )
      const [own, mixed] = yield* Effect.all([get(`/runs/${v1}/diff/${v2}`), get(`/runs/${v1}/diff/${other.v1}`)])
      assert.strictEqual(own.status, 200)
      assert.deepStrictEqual([own.body.differing, own.body.total.latencyMs, own.body.total.costUsd], [6, -110, null])
      assert.deepStrictEqual([mixed.status, mixed.body.message], [404, `run ${other.v1} not found`])
      // the command and the server compare with one module: the same values
      const json = yield* cli(["runs", "diff", v1, v2, "--url", server.url, "--api-key", key, "--json"])
      assert.deepStrictEqual(JSON.parse(json.stdout), own.body)
    }), { timeout: 120_000 })
})

describePg("runs diff --database-url", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("on PostgreSQL", (it) => {
    it.scoped("reads a PostgreSQL schema the same", () =>
      Effect.gen(function*() {
        const schema = yield* pgSchema
        const { v1, v2 } = yield* Effect.provide(recordComparedRuns, PgLayer({ url: pgUrl, schema }))
        const result = yield* cli(["runs", "diff", v1, v2, "--database-url", pgUrl, "--schema", schema])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.deepStrictEqual(lines(result.stdout), draftLines(v1, v2))
      }), { timeout: 120_000 })
  })
})
