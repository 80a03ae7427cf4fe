/**
 * The export format on the in-memory backend: a run with agents, steps and checkpoints encodes
 * to JSON lines and decodes back, writing it twice stores it once, a conflicting checkpoint and
 * bad input fail with a typed error naming the line. (SQLite, PostgreSQL and the server: see
 * the server's Export.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { RunContext, step, withAgent, withRun } from "../src/index.js"
import { makeMemory, MultiRunClient, type MultiRunClientService } from "../src/MultiRunClient.js"
import * as Checkpoints from "../src/Checkpoints.js"
import * as RunExport from "../src/RunExport.js"

/** A fresh in-memory backend, also as a layer for `withRun`. */
const memory = Effect.map(makeMemory, (client) => ({
  client,
  layer: Checkpoints.withClient(Layer.succeed(MultiRunClient, client))
}))

/** Records a run with two agents, three steps and two checkpoints; its id. */
const recordRun = (layer: Layer.Layer<MultiRunClient | Checkpoints.Checkpoints>) =>
  Effect.gen(function*() {
    const run = yield* RunContext
    yield* withAgent("planner")(Effect.succeed("plan").pipe(step("plan", { kind: "llm_call", input: { p: 1 } })))
    yield* run.setState("phase", "planned")
    yield* run.checkpoint("planned")
    yield* withAgent("writer")(Effect.gen(function*() {
      yield* Effect.succeed({ words: 3 }).pipe(step("draft", { kind: "llm_call", input: { p: 2 }, usage: () => ({ inputTokens: 5, outputTokens: 7, costUsd: 0.25 }) }))
      yield* Effect.either(Effect.fail("offline").pipe(step("lookup", { kind: "retrieval", input: { q: "x" } })))
    }))
    yield* run.checkpoint("written")
    return run.runId
  }).pipe(withRun({ name: "exported", tags: ["t"], metadata: { k: "v" } }), Effect.provide(layer))

const exported = (client: MultiRunClientService, runId: string) =>
  Effect.map(RunExport.read(client, runId), Option.getOrThrow)

const failure = (text: string) =>
  Effect.map(Effect.exit(RunExport.decode(text)), (exit) => {
    assert.isTrue(Exit.isFailure(exit))
    const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
    assert.instanceOf(error, RunExport.ImportError)
    return error as RunExport.ImportError
  })

describe("RunExport", () => {
  it.effect("encodes a run to versioned JSON lines and decodes it back", () =>
    Effect.gen(function*() {
      const source = yield* memory
      const runId = yield* recordRun(source.layer)
      const data = yield* exported(source.client, runId)
      const text = RunExport.encode(data)
      const lines = text.trimEnd().split("\n")
      assert.deepStrictEqual(JSON.parse(lines[0]!), {
        format: "multirun.run",
        version: 1,
        runId,
        counts: { agents: 2, steps: 3, checkpoints: 2 }
      })
      assert.deepStrictEqual(lines.slice(1).map((line) => JSON.parse(line).kind), [
        "run", "agent", "agent", "step", "step", "step", "checkpoint", "checkpoint"
      ])
      assert.deepStrictEqual(yield* RunExport.decode(text), data)
    }))

  it.effect("writes into another backend once: a second write stores nothing new", () =>
    Effect.gen(function*() {
      const source = yield* memory
      const data = yield* exported(source.client, yield* recordRun(source.layer))
      const target = yield* memory
      const first = yield* RunExport.write(target.client, data)
      assert.deepStrictEqual(
        [first.runs, first.agents, first.steps, first.checkpoints],
        [{ records: 1, written: 1 }, { records: 2, written: 2 }, { records: 3, written: 3 }, { records: 2, written: 2 }]
      )
      const second = yield* RunExport.write(target.client, data)
      assert.deepStrictEqual(
        [second.runs.written, second.agents.written, second.steps.written, second.checkpoints.written],
        [0, 0, 0, 0]
      )
      assert.strictEqual(RunExport.encode(yield* exported(target.client, data.run.id)), RunExport.encode(data))
    }))

  it.effect("does not move a run back: a stored run that went further keeps its record", () =>
    Effect.gen(function*() {
      const source = yield* memory
      const data = yield* exported(source.client, yield* recordRun(source.layer))
      const target = yield* memory
      const earlier = { ...data, run: { ...data.run, status: "running" as const, endedAt: null, result: null } }
      yield* RunExport.write(target.client, earlier)
      yield* RunExport.write(target.client, data)
      assert.strictEqual(Option.getOrThrow(yield* target.client.getRun(data.run.id)).status, "completed")
      const again = yield* RunExport.write(target.client, earlier)
      assert.strictEqual(again.runs.written, 0)
      assert.strictEqual(Option.getOrThrow(yield* target.client.getRun(data.run.id)).status, "completed")
    }))

  it.effect("a different checkpoint at a stored version is a Conflict, and nothing is written", () =>
    Effect.gen(function*() {
      const source = yield* memory
      const data = yield* exported(source.client, yield* recordRun(source.layer))
      const target = yield* memory
      yield* RunExport.write(target.client, { ...data, checkpoints: data.checkpoints.slice(0, 1) })
      const other = { ...data.checkpoints[1]!, id: "another-checkpoint", name: "elsewhere" }
      const conflicting = { ...data, checkpoints: [data.checkpoints[0]!, { ...other, version: 1 }] }
      const error = yield* Effect.flip(RunExport.write(target.client, conflicting))
      assert.instanceOf(error, RunExport.ImportError)
      assert.strictEqual((error as RunExport.ImportError).reason, "Conflict")
      assert.include(error.message, `already stores checkpoint ${data.checkpoints[0]!.id} (version 1)`)
      assert.include(error.message, "another-checkpoint")
      assert.strictEqual((yield* target.client.listCheckpoints(data.run.id)).length, 1)
    }))

  it.effect("bad input fails with the reason and the line", () =>
    Effect.gen(function*() {
      const source = yield* memory
      const text = RunExport.encode(yield* exported(source.client, yield* recordRun(source.layer)))
      const lines = text.split("\n")
      const notJson = yield* failure([...lines.slice(0, 2), "{\"kind\":\"agent\",", ...lines.slice(3)].join("\n"))
      assert.deepStrictEqual([notJson.reason, notJson.line], ["NotJson", 3])
      const version = yield* failure(text.replace("\"version\":1", "\"version\":7"))
      assert.deepStrictEqual([version.reason, version.line], ["UnknownVersion", 1])
      assert.include(version.message, "line 1: export format version 7 is not known to this multirun")
      const notExport = yield* failure("{\"hello\":1}\n")
      assert.deepStrictEqual([notExport.reason, notExport.line], ["NotAnExport", 1])
      const badStep = yield* failure(lines.map((line, i) => i === 4 ? line.replace(/"seq":\d+/, "\"seq\":\"one\"") : line).join("\n"))
      assert.deepStrictEqual([badStep.reason, badStep.line], ["Invalid", 5])
      assert.include(badStep.message, "seq")
      const unknownKind = yield* failure(lines.map((line, i) => i === 2 ? "{\"kind\":\"robot\",\"record\":{}}" : line).join("\n"))
      assert.deepStrictEqual([unknownKind.reason, unknownKind.line], ["Invalid", 3])
      const truncated = yield* failure(lines.slice(0, 6).join("\n"))
      assert.deepStrictEqual([truncated.reason, truncated.line], ["Incomplete", 6])
      assert.include(truncated.message, "the file holds 1, 2, 2 and 0")
      const empty = yield* failure("\n\n")
      assert.deepStrictEqual([empty.reason, empty.line], ["NotAnExport", 1])
    }))
})
