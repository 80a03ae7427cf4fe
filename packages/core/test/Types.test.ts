import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Effect } from "effect"
import { Effect as E, Schema } from "effect"
import { AgentContext, withAgent } from "../src/AgentContext.js"
import type { BackendError, CheckpointError, ReplayError, RunError, SerializationError } from "../src/Errors.js"
import type { MultiRunClient } from "../src/MultiRunClient.js"
import { RunContext, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"
import { StepContext } from "../src/StepContext.js"

// The checks are made by the compiler: `npm test` runs `tsc -b` (which type-checks this file)
// before vitest, so a type regression fails `npm test`. The test bodies only make vitest count them.
describe("types", () => {
  it("step puts RunContext in R and removes StepContext", () => {
    const tracked = E.flatMap(StepContext, (ctx) => E.as(ctx.addUsage({ tokensUsed: 1 }), 42)).pipe(Step.step("s"))
    expectTypeOf(tracked).toEqualTypeOf<
      Effect.Effect<number, SerializationError | ReplayError | BackendError | RunError, RunContext>
    >()
    // never called: only the compiler's verdict matters
    const outsideRun = () =>
      // @ts-expect-error a step needs RunContext: it cannot be run outside withRun
      E.runPromise(tracked)
    expectTypeOf(outsideRun).toBeFunction()
  })

  it("withRun removes RunContext from R and requires a backend", () => {
    const program = withRun("typed")(E.succeed(1).pipe(Step.step("s")))
    expectTypeOf<Effect.Effect.Context<typeof program>>().toEqualTypeOf<MultiRunClient>()
    expectTypeOf<Effect.Effect.Error<typeof program>>().toEqualTypeOf<
      SerializationError | ReplayError | BackendError | CheckpointError | RunError
    >()
  })

  it("withAgent removes AgentContext and requires RunContext", () => {
    const agent = withAgent("a")(E.map(AgentContext, (ctx) => ctx.isDefault))
    expectTypeOf<Effect.Effect.Context<typeof agent>>().toEqualTypeOf<RunContext>()
  })

  it("options reading the result fix its type", () => {
    const typed = E.succeed({ tokens: 3, text: "x" }).pipe(
      Step.step("llm", { usage: (r) => ({ tokensUsed: r.tokens }) })
    )
    expectTypeOf<Effect.Effect.Success<typeof typed>>().toEqualTypeOf<{ tokens: number; text: string }>()
    const decoded = E.succeed(new Date(0)).pipe(Step.step("when", { output: Schema.DateFromString }))
    expectTypeOf<Effect.Effect.Success<typeof decoded>>().toEqualTypeOf<Date>()
    // @ts-expect-error usage must read the step's own result type
    E.succeed("text").pipe(Step.step("llm", { usage: (r: { tokens: number }) => ({ tokensUsed: r.tokens }) }))
  })
})
