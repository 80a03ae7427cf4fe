/**
 * Through a real server on PostgreSQL: what the server would refuse is refused at the client,
 * typed, before it is sent. A checkpoint and a step output are measured in UTF-8 bytes (2 M "€"
 * are 6 MB), a refused checkpoint uses no version, and a name holding U+0000 fails the run at
 * its start with nothing sent, so the next run goes through.
 */
import { assert, layer } from "@effect/vitest"
import { MultiRunClient, RunContext, Step, withRun } from "@multirun/core"
import { CheckpointError, SerializationError } from "@multirun/core/Errors"
import { Effect, Layer, Option } from "effect"
import { layerPg, remoteLayer } from "./TestServer.js"

/** 2 M "€": 2 M characters, 6 MB of UTF-8, over the default 4 MiB value limit and the server's 5 MiB body limit. */
const euros = "€".repeat(2_000_000)

layer(Layer.provideMerge(remoteLayer(), layerPg()), { excludeTestServices: true })("limits at the entry, remote", (it) => {
  it.effect("a 6 MB extraState fails with CheckpointError(TooLarge) before it is sent; the next checkpoint takes the next version", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient.MultiRunClient
      const runId = yield* withRun("big-checkpoint")(Effect.gen(function*() {
        const run = yield* RunContext
        const first = yield* run.checkpoint("first")
        const error = yield* Effect.flip(run.checkpoint("big", { extraState: { notes: euros } }))
        assert.instanceOf(error, CheckpointError)
        assert.strictEqual((error as CheckpointError).reason, "TooLarge")
        assert.match(error.message, /checkpoint "big" is 6,000,\d{3} bytes of UTF-8/)
        assert.include(error.message, "bytes of UTF-8, over the limit of 4,194,304 (the run's `maxValueSize`)")
        const next = yield* run.checkpoint("next")
        assert.deepStrictEqual([first.version, next.version], [1, 2])
        return run.runId
      }))
      const stored = yield* client.listCheckpoints(runId)
      assert.deepStrictEqual(stored.map((c) => [c.name, c.version]), [["first", 1], ["next", 2]])
    }))

  it.effect("a step output of 2 M \"€\" (6 MB of UTF-8) fails the step typed; the run ends recorded", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient.MultiRunClient
      const runId = yield* withRun("big-output")(Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.succeed(euros).pipe(Step.step("write")))
        assert.instanceOf(error, SerializationError)
        assert.include(error.message, "output is not JSON (found a value of 6,000,002 bytes of UTF-8, over the limit of 4,194,304)")
        return (yield* RunContext).runId
      }))
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.status]), [["write", "failed"]])
      assert.strictEqual(Option.getOrThrow(yield* client.getRun(runId)).status, "completed")
    }))

  it.effect("a run named with U+0000 fails typed at its start, nothing sent; the next run is stored", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient.MultiRunClient
      const error = yield* Effect.flip(withRun("night\u0000ly")(Effect.void))
      assert.instanceOf(error, SerializationError)
      assert.deepStrictEqual([(error as SerializationError).path, (error as SerializationError).reason], ["run name", "Unstorable"])
      const runId = yield* withRun("nightly")(Effect.map(RunContext, (run) => run.runId))
      const runs = (yield* client.listRuns({})).filter((run) => run.name.startsWith("night"))
      assert.deepStrictEqual(runs.map((run) => [run.id, run.name, run.status]), [[runId, "nightly", "completed"]])
    }))
})
