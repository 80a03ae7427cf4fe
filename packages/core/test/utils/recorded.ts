/**
 * One run recorded through whatever backend the context holds, and what a person would see of it
 * read back through the same backend: the run's name and status and its steps' names.
 */
import { Effect } from "effect"
import { MultiRunClient } from "../../src/MultiRunClient.js"
import { withRun } from "../../src/RunContext.js"
import { step } from "../../src/Step.js"

/** What {@link recordAndRead} read back. */
export interface Recorded {
  readonly runs: ReadonlyArray<{ readonly name: string; readonly status: string }>
  readonly steps: ReadonlyArray<string>
}

/** Records the run `name` (steps `plan` then `answer`) and reads every run and its steps back. */
export const recordAndRead = (name: string) =>
  Effect.gen(function*() {
    yield* withRun(name)(Effect.zipRight(
      Effect.succeed("a plan").pipe(step("plan")),
      Effect.succeed(42).pipe(step("answer"))
    ))
    const client = yield* MultiRunClient
    yield* client.flush
    const runs = yield* client.listRuns()
    const steps = runs.length === 1 ? yield* client.listSteps(runs[0]!.id) : []
    return {
      runs: runs.map((run) => ({ name: run.name, status: run.status })),
      steps: steps.map((s) => s.name)
    } satisfies Recorded
  })
