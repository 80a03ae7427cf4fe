/**
 * `RunDiff.make`: steps of two runs aligned by agent, step name and occurrence; what differs;
 * deltas per step, per agent and in total, with unknown costs kept unknown.
 */
import { assert, describe, it } from "@effect/vitest"
import * as RunDiff from "../src/RunDiff.js"
import type * as Step from "../src/Step.js"
import { stepRecord } from "./utils/records.js"

const run = (id: string, parentRunId: string | null = null): RunDiff.RunRef => ({
  id,
  name: id,
  status: "completed",
  tags: [],
  parentRunId
})
const agents = [{ id: "ag-planner", name: "planner" }, { id: "ag-worker", name: "worker" }]

/** A step of `runId` by `agent` with the input and output given as values. */
const s = (
  runId: string,
  seq: number,
  agent: "planner" | "worker",
  name: string,
  io: { readonly input?: unknown; readonly output?: unknown },
  overrides: Partial<Step.Encoded> = {}
): Step.Encoded => {
  const input = JSON.stringify(io.input ?? {})
  return stepRecord(`${runId}-${seq}`, runId, `ag-${agent}`, seq, {
    name,
    input,
    inputHash: `h:${input}`,
    output: io.output === undefined ? null : JSON.stringify(io.output),
    ...overrides
  })
}

const side = (id: string, steps: ReadonlyArray<Step.Encoded>, inherits?: RunDiff.Side["inherits"]): RunDiff.Side => ({
  run: run(id, inherits?.runId ?? null),
  agents,
  steps,
  inherits
})

/** A row as a line: agent, name, occurrence, seqs, what differs, deltas. */
const line = (row: RunDiff.Row): string =>
  [
    `${row.agent}/${row.name}#${row.occurrence}`,
    `${row.a?.seq ?? "-"}→${row.b?.seq ?? "-"}`,
    row.inherited ? "inherited" : row.changes.join("+") || "same",
    `${row.latencyMs}ms ${row.tokensUsed}t ${row.costUsd ?? "?"}$`
  ].join(" ")

describe("RunDiff", () => {
  it("aligns a loop by occurrence: a third call of the same step is B's alone", () => {
    const a = side("a", [
      s("a", 0, "planner", "plan", { output: "p" }),
      s("a", 1, "worker", "search", { input: { q: 1 }, output: [1] }),
      s("a", 2, "worker", "search", { input: { q: 2 }, output: [2] })
    ])
    const b = side("b", [
      s("b", 0, "planner", "plan", { output: "p" }),
      s("b", 1, "worker", "search", { input: { q: 1 }, output: [1] }, { latencyMs: 4 }),
      s("b", 2, "worker", "search", { input: { q: 2 }, output: [2] }),
      s("b", 3, "worker", "search", { input: { q: 3 }, output: [3] }, { costUsd: 0.002 })
    ])
    const diff = RunDiff.make(a, b)
    assert.deepStrictEqual(diff.rows.map(line), [
      "planner/plan#0 0→0 same 0ms 0t 0$",
      "worker/search#0 1→1 same 3ms 0t 0$",
      "worker/search#1 2→2 same 0ms 0t 0$",
      "worker/search#2 -→3 same 1ms 10t 0.002$"
    ])
    assert.strictEqual(diff.differing, 1)
    assert.deepStrictEqual(diff.agents.map((x) => [x.agent, x.a.steps, x.b.steps, x.latencyMs, x.tokensUsed, x.costUsd]), [
      ["planner", 1, 1, 0, 0, 0],
      ["worker", 2, 3, 4, 10, 0.002]
    ])
    assert.deepStrictEqual(diff.total.a, { steps: 3, latencyMs: 3, tokensUsed: 30, costUsd: 0.003, unpricedSteps: 0 })
    assert.deepStrictEqual(diff.total.b, { steps: 4, latencyMs: 7, tokensUsed: 40, costUsd: 0.005, unpricedSteps: 0 })
    assert.strictEqual(diff.total.costUsd, 0.002)
  })

  it("places a step of one run only where it ran, and counts it as −A or +B", () => {
    const a = side("a", [
      s("a", 0, "planner", "plan", {}),
      s("a", 1, "worker", "draft", {}, { latencyMs: 30, tokensUsed: 7, costUsd: 0.25 }),
      s("a", 2, "worker", "publish", {})
    ])
    const b = side("b", [
      s("b", 0, "worker", "fetch", {}),
      s("b", 1, "planner", "plan", {}),
      s("b", 2, "worker", "check", {}),
      s("b", 3, "worker", "publish", {})
    ])
    assert.deepStrictEqual(RunDiff.make(a, b).rows.map(line), [
      "worker/fetch#0 -→0 same 1ms 10t 0.001$",
      "planner/plan#0 0→1 same 0ms 0t 0$",
      "worker/check#0 -→2 same 1ms 10t 0.001$",
      "worker/draft#0 1→- same -30ms -7t -0.25$",
      "worker/publish#0 2→3 same 0ms 0t 0$"
    ])
  })

  it("names what differs: the input's paths (drift), the output's paths, status and model", () => {
    const a = side("a", [
      s("a", 0, "worker", "write", { input: { topic: "x", temperature: 0.2 }, output: { text: "a", n: 1, tags: ["x"] } }, {
        model: "m1"
      }),
      s("a", 1, "worker", "review", { output: { ok: true } })
    ])
    const b = side("b", [
      s("b", 0, "worker", "write", { input: { topic: "x", temperature: 0.7 }, output: { text: "b", n: 1, tags: ["x", "y"] } }, {
        model: "m2"
      }),
      s("b", 1, "worker", "review", {}, { status: "failed" })
    ])
    const [write, review] = RunDiff.make(a, b).rows
    assert.deepStrictEqual(write!.changes, ["input", "output", "model"])
    assert.deepStrictEqual(write!.inputPaths, ["input.temperature"])
    assert.deepStrictEqual(write!.outputPaths, ["output.tags[1]", "output.text"])
    assert.deepStrictEqual(review!.changes, ["output", "status"])
    assert.deepStrictEqual(review!.outputPaths, ["output"])
    assert.deepStrictEqual([review!.a?.status, review!.b?.status], ["completed", "failed"])
  })

  it("keeps an unknown cost unknown: the row's delta, the agent's and the total's, never 0", () => {
    const a = side("a", [s("a", 0, "planner", "plan", {}, { costUsd: 0.5 }), s("a", 1, "worker", "go", {}, { costUsd: 0.5 })])
    const b = side("b", [s("b", 0, "planner", "plan", {}, { costUsd: null }), s("b", 1, "worker", "go", {}, { costUsd: 0.25 })])
    const diff = RunDiff.make(a, b)
    assert.deepStrictEqual(diff.rows.map((row) => row.costUsd), [null, -0.25])
    assert.deepStrictEqual(diff.agents.map((x) => [x.agent, x.costUsd, x.b.costUsd, x.b.unpricedSteps]), [
      ["planner", null, null, 1],
      ["worker", -0.25, 0.25, 0]
    ])
    assert.deepStrictEqual(diff.total.b, { steps: 2, latencyMs: 2, tokensUsed: 20, costUsd: 0.25, unpricedSteps: 1 })
    assert.strictEqual(diff.total.costUsd, null)
  })

  it("counts the steps a fork inherits on its side as the parent's records, the same, with deltas 0", () => {
    const parent = side("p", [
      s("p", 0, "worker", "a", { output: 1 }),
      s("p", 1, "worker", "b", { output: 2 }),
      s("p", 2, "worker", "c", { output: 3 }, { latencyMs: 9 })
    ])
    const fork = side("f", [s("f", 2, "worker", "c", { output: 4 }, { latencyMs: 5 })], { runId: "p", covered: [[0, 2]] })
    const diff = RunDiff.make(parent, fork)
    assert.deepStrictEqual(diff.rows.map(line), [
      "worker/a#0 0→0 inherited 0ms 0t 0$",
      "worker/b#0 1→1 inherited 0ms 0t 0$",
      "worker/c#0 2→2 output -4ms 0t 0$"
    ])
    assert.deepStrictEqual(diff.rows.map((row) => row.b?.id), ["p-0", "p-1", "f-2"])
    assert.strictEqual(diff.differing, 1)
    // the other way round: the fork as A
    assert.deepStrictEqual(RunDiff.make(fork, parent).rows.map(line), [
      "worker/a#0 0→0 inherited 0ms 0t 0$",
      "worker/b#0 1→1 inherited 0ms 0t 0$",
      "worker/c#0 2→2 output 4ms 0t 0$"
    ])
  })
})
