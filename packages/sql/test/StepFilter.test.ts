/**
 * Filtered pages of a run's steps (`StepRows.page` and `summaryPage` with `Api.StepFilter`) on
 * SQLite and PostgreSQL: by agent name over its attempts, kind, status (failed, drifted, and
 * replayed by the flag or by a resume's seq ranges), text in the name and in the input, output
 * or error in any case with `%` and `_` taken literally, combined, paged by seq, and never a step
 * of another run.
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { assert, describe, layer } from "@effect/vitest"
import type { Api } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { agentRecord, describePg, runRecord, stepRecord } from "@multirun/core/test-utils"
import { Effect, type Layer } from "effect"
import * as StepRows from "../src/StepRows.js"
import { freshLayer, pgDatabase, sqliteDatabase } from "./helpers.js"

const runId = "run-find"
const otherRunId = "run-other"

/** Two planner attempts and a writer; steps 5 and 6 were returned by a resume (the run's replays). */
const record = Effect.gen(function*() {
  const client = yield* MultiRunClient
  yield* client.writeRun(runRecord(runId, {
    replays: [{ checkpointId: "cp-1", startedAt: 1_700_000_000_100, steps: [[5, 7]], inherited: 0 }]
  }))
  yield* client.writeRun(runRecord(otherRunId))
  yield* client.writeAgent(agentRecord("a-plan-1", runId, { name: "planner", status: "interrupted" }))
  yield* client.writeAgent(agentRecord("a-write", runId, { name: "writer" }))
  yield* client.writeAgent(agentRecord("a-plan-2", runId, { name: "planner" }))
  yield* client.writeAgent(agentRecord("a-other", otherRunId, { name: "planner" }))
  const steps = [
    stepRecord("s-0", runId, "a-plan-1", 0, { name: "plan", kind: "llm_call", input: JSON.stringify({ q: "Weather in PARIS?" }) }),
    stepRecord("s-1", runId, "a-write", 1, {
      name: "search_web",
      kind: "tool_call",
      status: "failed",
      output: null,
      error: { tag: "Timeout", message: "gave up at 50%_of the budget" }
    }),
    stepRecord("s-2", runId, "a-write", 2, { name: "write", kind: "llm_call", drift: "input.prompt" }),
    stepRecord("s-3", runId, "a-plan-2", 3, { name: "Plan", kind: "llm_call", replayed: true }),
    stepRecord("s-4", runId, "a-plan-2", 4, { name: "lookup", kind: "tool_call", output: JSON.stringify("100% sure") }),
    stepRecord("s-5", runId, "a-plan-2", 5, { name: "lookup", kind: "tool_call" }),
    stepRecord("s-6", runId, "a-write", 6, { name: "write", kind: "llm_call" }),
    stepRecord("s-7", runId, "a-write", 7, { name: "write", kind: "llm_call" }),
    stepRecord("o-0", otherRunId, "a-other", 0, { name: "plan", kind: "tool_call", status: "failed", input: JSON.stringify("paris") })
  ]
  for (const step of steps) yield* client.writeStep(step)
  yield* client.flush
})

const seqs = (filter: StepRows.Page) =>
  Effect.flatMap(SqlClient, (sql) => StepRows.page(sql, "default", runId, filter)).pipe(
    Effect.map((steps) => steps.map((step) => step.seq))
  )

const suite = (label: string, store: Layer.Layer<MultiRunClient | SqlClient, unknown>) =>
  layer(store)(`filtered step pages on ${label}`, (it) => {
    it.effect("agent, kind, status, name and text each keep the steps a person asks for, in seq order", () =>
      Effect.gen(function*() {
        yield* record
        assert.deepStrictEqual(yield* seqs({}), [0, 1, 2, 3, 4, 5, 6, 7])
        // by agent name: both attempts of the planner, none of the other run's planner
        assert.deepStrictEqual(yield* seqs({ agent: "planner" }), [0, 3, 4, 5])
        assert.deepStrictEqual(yield* seqs({ agent: "writer" }), [1, 2, 6, 7])
        assert.deepStrictEqual(yield* seqs({ agent: "nobody" }), [])
        assert.deepStrictEqual(yield* seqs({ kind: "tool_call" }), [1, 4, 5])
        assert.deepStrictEqual(yield* seqs({ kind: "handoff" }), [])
        assert.deepStrictEqual(yield* seqs({ status: "failed" }), [1])
        assert.deepStrictEqual(yield* seqs({ status: "drifted" }), [2])
        // replayed: recorded with the flag (0.2) or returned by a resume (the run's seq ranges)
        assert.deepStrictEqual(yield* seqs({ status: "replayed" }), [3, 5, 6])
        assert.deepStrictEqual(yield* seqs({ status: "completed" }), [0, 2, 3, 4, 5, 6, 7])
        assert.deepStrictEqual(yield* seqs({ name: "PLA" }), [0, 3])
        assert.deepStrictEqual(yield* seqs({ name: "_" }), [1])
        assert.deepStrictEqual(yield* seqs({ text: "paris" }), [0])
        // in the error's text; `%` and `_` are the characters, not wildcards
        assert.deepStrictEqual(yield* seqs({ text: "TIMEOUT" }), [1])
        assert.deepStrictEqual(yield* seqs({ text: "%" }), [1, 4])
        assert.deepStrictEqual(yield* seqs({ text: "%_" }), [1])
        assert.deepStrictEqual(yield* seqs({ text: "'; DROP TABLE multirun_steps; --" }), [])
        assert.deepStrictEqual(yield* seqs({}), [0, 1, 2, 3, 4, 5, 6, 7])
      }))

    it.effect("filters combine and stay paged by seq; summaries take the same filter", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* seqs({ agent: "planner", kind: "tool_call" }), [4, 5])
        assert.deepStrictEqual(yield* seqs({ agent: "writer", status: "replayed" }), [6])
        const filter: Api.StepFilter = { kind: "llm_call" }
        assert.deepStrictEqual(yield* seqs({ ...filter, limit: 2 }), [0, 2])
        assert.deepStrictEqual(yield* seqs({ ...filter, afterSeq: 2, limit: 2 }), [3, 6])
        assert.deepStrictEqual(yield* seqs({ ...filter, afterSeq: 6, limit: 2 }), [7])
        const summaries = yield* Effect.flatMap(SqlClient, (sql) =>
          StepRows.summaryPage(sql, "default", runId, { text: "paris", afterSeq: -1, limit: 10 }))
        assert.deepStrictEqual(summaries.map((step) => [step.seq, step.name]), [[0, "plan"]])
        assert.isFalse("input" in summaries[0]!)
      }))
  })

describe("StepRows filters", () => {
  suite("SQLite", freshLayer(sqliteDatabase))
})

describePg("StepRows filters on PostgreSQL", () => {
  suite("PostgreSQL", freshLayer(pgDatabase()))
})
