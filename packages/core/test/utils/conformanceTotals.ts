/**
 * Conformance for totals: an unknown cost is `null`, never 0, for runs and agents too (with the
 * count of steps of unknown cost when some cost is known), and a fork counts what it inherits
 * from its parent apart, also for a fork of a fork. Called by `conformance`, so it holds on every
 * backend.
 */
import { assert, describe } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { withAgent } from "../../src/AgentContext.js"
import { Checkpoints } from "../../src/Checkpoints.js"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import * as Run from "../../src/Run.js"
import * as Step from "../../src/Step.js"
import type { BackendLayer, ConformanceIt } from "./conformance.js"
import { onBackend } from "./backend.js"

/** A step with the given cost: a number, `null` (a model without a price), or no usage at all. */
const call = (name: string, costUsd: number | null | undefined) =>
  Effect.succeed(name).pipe(
    Step.step(name, {
      kind: costUsd === undefined ? "function" : "llm_call",
      input: { name },
      ...(costUsd === undefined ? {} : { usage: () => ({ inputTokens: 7, outputTokens: 3, costUsd }) })
    })
  )

/** The totals fields compared here. */
const totalsOf = (t: typeof Run.Run.Encoded | NonNullable<typeof Run.Run.Encoded["inherited"]>) => ({
  stepCount: t.stepCount,
  tokensUsed: t.tokensUsed,
  costUsd: t.costUsd,
  unpricedSteps: t.unpricedSteps ?? 0
})

/** Registers the totals tests for one backend. */
export const totalsConformance = <R>(makeLayer: BackendLayer<R>, it: ConformanceIt<R>): void => {
  const run = onBackend(makeLayer)

  /** Runs `program` as a new run and returns the run and its agents as stored. */
  const stored = <E>(name: string, program: Effect.Effect<unknown, E, RunContext>) =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const runId = yield* withRun(name)(Effect.zipRight(program, Effect.map(RunContext, (ctx) => ctx.runId)))
      const record = Option.getOrThrow(yield* client.getRun(runId))
      return { run: record, agents: yield* client.listAgents(runId) }
    })

  describe("totals", () => {
    it.effect("unknown cost: a run and agents whose every step is unpriced cost null, never 0", () =>
      run(Effect.gen(function*() {
        const { agents, run } = yield* stored("unpriced", withAgent("writer")(Effect.zipRight(call("a", null), call("b", null))))
        assert.deepStrictEqual(totalsOf(run), { stepCount: 2, tokensUsed: 20, costUsd: null, unpricedSteps: 2 })
        assert.deepStrictEqual(agents.map(totalsOf), [{ stepCount: 2, tokensUsed: 20, costUsd: null, unpricedSteps: 2 }])
        // and the record decodes with its cost still unknown
        assert.isNull(Schema.decodeUnknownSync(Run.Run)(run).costUsd)
        assert.isNull(run.inherited ?? null, "a run that is not a fork inherits nothing")
      })))

    it.effect("unknown cost: tool calls that cost nothing beside unpriced model calls leave the cost unknown, not 0", () =>
      run(Effect.gen(function*() {
        const { agents, run } = yield* stored("tools", withAgent("tools")(Effect.zipRight(call("lookup", undefined), call("a", null))))
        assert.deepStrictEqual(totalsOf(run), { stepCount: 2, tokensUsed: 10, costUsd: null, unpricedSteps: 1 })
        assert.deepStrictEqual(agents.map(totalsOf), [{ stepCount: 2, tokensUsed: 10, costUsd: null, unpricedSteps: 1 }])
      })))

    it.effect("unknown cost: a mixed run costs the known sum, and counts its unpriced steps", () =>
      run(Effect.gen(function*() {
        const { agents, run } = yield* stored(
          "mixed",
          Effect.zipRight(
            withAgent("planner")(Effect.all([call("a", 0.25), call("b", null), call("c", undefined)])),
            withAgent("writer")(Effect.all([call("d", null), call("e", null)]))
          )
        )
        assert.deepStrictEqual(totalsOf(run), { stepCount: 5, tokensUsed: 40, costUsd: 0.25, unpricedSteps: 3 })
        const byName = new Map(agents.map((agent) => [agent.name, totalsOf(agent)]))
        assert.deepStrictEqual(byName.get("planner"), { stepCount: 3, tokensUsed: 20, costUsd: 0.25, unpricedSteps: 1 })
        assert.deepStrictEqual(byName.get("writer"), { stepCount: 2, tokensUsed: 20, costUsd: null, unpricedSteps: 2 })
      })))

    it.effect("a fork counts what it inherits apart, and a fork of a fork inherits its parent's inheritance too", () =>
      run(Effect.gen(function*() {
        const client = yield* MultiRunClient
        const checkpoints = yield* Checkpoints
        // the same program in every run: a, b, checkpoint, c, checkpoint, d
        const program = withAgent("worker")(Effect.gen(function*() {
          const ctx = yield* RunContext
          yield* call("a", 0.5)
          yield* call("b", null)
          yield* ctx.checkpoint("two")
          yield* call("c", 0.25)
          yield* ctx.checkpoint("three")
          yield* call("d", 0.125)
          return ctx.runId
        }))
        const parent = yield* withRun("parent")(program)
        const [two] = yield* checkpoints.list(parent)
        // forked after a and b: it executes c and d
        const child = yield* withRun({ name: "child", forkFrom: two!.id })(program)
        const [, three] = yield* checkpoints.list(child)
        // forked after the child's c: it executes d only
        const grandchild = yield* withRun({ name: "grandchild", forkFrom: three!.id })(program)
        const read = (id: string) => Effect.map(client.getRun(id), Option.getOrThrow)
        const [p, c, g] = [yield* read(parent), yield* read(child), yield* read(grandchild)]

        assert.deepStrictEqual(totalsOf(p), { stepCount: 4, tokensUsed: 40, costUsd: 0.875, unpricedSteps: 1 })
        assert.isNull(p.inherited ?? null)
        assert.deepStrictEqual(totalsOf(c), { stepCount: 2, tokensUsed: 20, costUsd: 0.375, unpricedSteps: 0 })
        assert.deepStrictEqual(totalsOf(c.inherited!), { stepCount: 2, tokensUsed: 20, costUsd: 0.5, unpricedSteps: 1 })
        assert.deepStrictEqual(totalsOf(g), { stepCount: 1, tokensUsed: 10, costUsd: 0.125, unpricedSteps: 0 })
        // the child's c at its checkpoint, plus the a and b the child inherited
        assert.deepStrictEqual(totalsOf(g.inherited!), { stepCount: 3, tokensUsed: 30, costUsd: 0.75, unpricedSteps: 1 })
        // as listed too
        const listed = yield* client.listRuns({ name: "grandchild" })
        assert.deepStrictEqual(listed.map((r) => totalsOf(r.inherited!)), [totalsOf(g.inherited!)])

        // a fork that failed, resumed in a new attempt: what it inherited stays as it was
        let crashed = ""
        yield* Effect.exit(withRun({ name: "crashed", forkFrom: three!.id })(
          Effect.zipRight(Effect.map(RunContext, (ctx) => crashed = ctx.runId), Effect.zipRight(program, Effect.fail("crash")))
        ))
        yield* withRun({ name: "crashed", resume: { runId: crashed, latest: true } })(program)
        const resumed = yield* read(crashed)
        assert.strictEqual(resumed.status, "completed")
        assert.deepStrictEqual(totalsOf(resumed.inherited!), totalsOf(g.inherited!))
      })))
  })
}
