import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import {
  AgentContext,
  type AgentContextService,
  LocalLayer,
  MultiRunClient,
  RunContext,
  type RunContextService,
  Step,
  step,
  withAgent,
  withRun
} from "../src/index.js"

describe("the contexts are interfaces", () => {
  it.effect("step, withAgent and Step.fn run with a wrapped RunContext and AgentContext, calling the wrappers", () =>
    Effect.gen(function*() {
      const calls = { startAgent: 0, defaultAgent: 0, runStep: 0 }
      const wrapAgent = (agent: AgentContextService): AgentContextService => ({
        ...agent,
        runStep: (name, options, body) => {
          calls.runStep++
          return agent.runStep(name, options, body)
        }
      })
      const wrapRun = (run: RunContextService): RunContextService => ({
        ...run,
        startAgent: (options) => {
          calls.startAgent++
          return Effect.map(run.startAgent(options), wrapAgent)
        },
        defaultAgent: Effect.suspend(() => {
          calls.defaultAgent++
          return Effect.map(run.defaultAgent, wrapAgent)
        })
      })
      const double = Step.fn("double")((n: number) => Effect.succeed(n * 2))
      const program = Effect.gen(function*() {
        const a = yield* step("outside")(Effect.succeed(1))
        const b = yield* withAgent("worker")(double(a))
        const c = yield* withAgent("checker")(
          Effect.flatMap(AgentContext, (agent) => agent.runStep("direct", { input: b }, Effect.succeed(b + 1)))
        )
        return yield* Effect.map(RunContext, (run) => ({ result: c, runId: run.runId }))
      })
      const { result, runId } = yield* withRun("wrapped")(
        Effect.flatMap(RunContext, (run) => Effect.provideService(program, RunContext, wrapRun(run)))
      )
      assert.strictEqual(result, 3)
      assert.deepStrictEqual(calls, { startAgent: 2, defaultAgent: 1, runStep: 3 })
      const client = yield* MultiRunClient.MultiRunClient
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => [s.name, s.status]), [
        ["outside", "completed"],
        ["double", "completed"],
        ["direct", "completed"]
      ])
      const run = yield* client.getRun(runId)
      assert.strictEqual(Option.getOrThrow(run).stepCount, 3)
    }).pipe(Effect.provide(LocalLayer)))
})
