/**
 * The public services are interfaces: a program can be given its own value of `RunContext` or
 * `AgentContext` (here the real one with `checkpoint` and `startAgent` wrapped, as a user would
 * wrap a service to log or meter it), and the combinators work with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { AgentContext, type AgentContextService, withAgent } from "../src/AgentContext.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, type RunContextService, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"

describe("wrapped services", () => {
  it.effect("step, withAgent and Step.fn run under a wrapped RunContext and a wrapped AgentContext, through the wrappers", () =>
    Effect.gen(function*() {
      const calls = { runCheckpoint: 0, startAgent: 0, agentCheckpoint: 0 }
      const add = Step.fn("add")((a: number, b: number) => Effect.succeed(a + b))

      const outcome = yield* withRun("wrapped")(Effect.gen(function*() {
        const real = yield* RunContext
        const wrappedRun: RunContextService = {
          ...real,
          checkpoint: (name, options) => {
            calls.runCheckpoint++
            return real.checkpoint(name, options)
          },
          startAgent: (options) => {
            calls.startAgent++
            return real.startAgent(options)
          }
        }

        return yield* Effect.gen(function*() {
          // outside any agent: the run's default agent
          const outside = yield* Effect.succeed("outside").pipe(Step.step("outside", { input: { at: "run" } }))

          const inAgent = yield* withAgent("worker")(Effect.gen(function*() {
            const agent = yield* AgentContext
            const wrappedAgent: AgentContextService = {
              ...agent,
              checkpoint: (name, options) => {
                calls.agentCheckpoint++
                return agent.checkpoint(name, options)
              }
            }
            return yield* Effect.gen(function*() {
              const inside = yield* Effect.succeed("inside").pipe(Step.step("inside", { input: { at: "agent" } }))
              const sum = yield* add(1, 2)
              const checkpoint = yield* Effect.flatMap(AgentContext, (ctx) => ctx.checkpoint("by-agent"))
              return { inside, sum, checkpoint }
            }).pipe(Effect.provideService(AgentContext, wrappedAgent))
          }))

          const byRun = yield* Effect.flatMap(RunContext, (ctx) => ctx.checkpoint("by-run"))
          return { outside, ...inAgent, byRun, runId: real.runId }
        }).pipe(Effect.provideService(RunContext, wrappedRun))
      }))

      assert.deepStrictEqual([outcome.outside, outcome.inside, outcome.sum], ["outside", "inside", 3])
      // the program's own calls went through the wrappers, and withAgent started its agent through the wrapped run
      assert.deepStrictEqual([calls.runCheckpoint, calls.agentCheckpoint], [1, 1])
      assert.isAtLeast(calls.startAgent, 1)

      const client = yield* MultiRunClient
      const agents = yield* client.listAgents(outcome.runId)
      const worker = agents.find((agent) => agent.name === "worker")
      assert.isDefined(worker)
      assert.strictEqual(worker!.status, "completed")
      assert.strictEqual(worker!.stepCount, 2)
      const steps = yield* client.listSteps(outcome.runId)
      assert.deepStrictEqual(
        steps.map((s) => [s.name, s.input, s.agentId === worker!.id, s.status]),
        [
          ["outside", "{\"at\":\"run\"}", false, "completed"],
          ["inside", "{\"at\":\"agent\"}", true, "completed"],
          ["add", "[1,2]", true, "completed"]
        ]
      )
      assert.strictEqual(outcome.checkpoint.agentId, worker!.id)
      assert.strictEqual(outcome.byRun.agentId, null)
      assert.deepStrictEqual(
        (yield* client.listCheckpoints(outcome.runId)).map((c) => [c.name, c.version, c.stepCount]),
        [["by-agent", 1, 3], ["by-run", 2, 3]]
      )
      const run = yield* client.getRun(outcome.runId)
      assert.strictEqual(run._tag === "Some" && run.value.status, "completed")
    }).pipe(Effect.provide(LocalLayer)))

  it.effect("step goes through the runStep and defaultAgent of the contexts it is given", () =>
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
        const a = yield* Step.step("outside")(Effect.succeed(1))
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
      const client = yield* MultiRunClient
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
