/**
 * `AgentContext.layer`: `withAgent` as a scoped layer, on the current run, ended from the exit of
 * its scope; with `RunContext.layer`, a run and its agent made of layers only.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { AgentContext } from "../src/AgentContext.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"

const work = Effect.succeed("done").pipe(Step.step("work"))

describe("AgentContext.layer", () => {
  it.effect("starts the agent on the current run; its steps and its end are the agent's", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const runId = yield* withRun("layered")(Effect.gen(function*() {
        const isDefault = yield* work.pipe(
          Effect.zipRight(Effect.map(AgentContext, (agent) => agent.isDefault)),
          Effect.provide(AgentContext.layer({ name: "planner", metadata: { model: "m" } }))
        )
        assert.isFalse(isDefault)
        const failed = yield* Effect.exit(Effect.fail("no plan").pipe(Effect.provide(AgentContext.layer("critic"))))
        assert.isTrue(Exit.isFailure(failed))
        return (yield* RunContext).runId
      }))
      const agents = yield* client.listAgents(runId)
      assert.deepStrictEqual(agents.map((a) => [a.name, a.isDefault, a.status, a.metadata]), [
        ["planner", false, "completed", { model: "m" }],
        ["critic", false, "failed", {}]
      ])
      assert.deepStrictEqual(agents[1]!.error, { tag: null, message: "no plan", kind: "failure" })
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.agentId]), [["work", agents[0]!.id]])
    }).pipe(Effect.provide(LocalLayer)))

  it.effect("with RunContext.layer: a run and its agent made of layers only", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const live = AgentContext.layer("worker").pipe(Layer.provideMerge(RunContext.layer("all-layers")))
      const runId = yield* Effect.zipRight(work, Effect.map(RunContext, (run) => run.runId)).pipe(Effect.provide(live))
      const run = Option.getOrThrow(yield* client.getRun(runId))
      const [agent] = yield* client.listAgents(runId)
      assert.deepStrictEqual([run.status, run.stepCount, agent!.name, agent!.status, agent!.stepCount], [
        "completed",
        1,
        "worker",
        "completed",
        1
      ])
    }).pipe(Effect.provide(LocalLayer)))
})
