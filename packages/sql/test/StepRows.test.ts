import { assert, describe, it } from "@effect/vitest"
import * as Event from "@multirun/core/Event"
import type * as Step from "@multirun/core/Step"
import { stepRecord } from "@multirun/core/test-utils"
import { Schema } from "effect"
import { isPlainStep } from "../src/internal/stepRows.js"

const isStepRecord = Schema.is(Event.StepRecord)

/** Values a corrupt row could put in any field. */
const strange: ReadonlyArray<unknown> = [
  undefined, null, "", "text", 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, true, [], {}, [[0, 1]], [[0]],
  [["a", 1]], { tag: null, message: "m" }, "llm_call", "completed"
]

const full: Step.Encoded = stepRecord("s-1", "r-1", "a-1", 3, {
  inputTokens: 1,
  outputTokens: 2,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  model: "m",
  parentId: "s-0",
  drift: "input.q",
  occurrence: 2,
  replayedInside: [[0, 2]]
})

describe("the plain-step check of a restore's read", () => {
  it("takes a valid step without the schema, with and without its optional fields", () => {
    assert.isTrue(isPlainStep(full))
    assert.isTrue(isPlainStep(stepRecord("s-2", "r-1", "a-1", 4, { costUsd: null, output: null, endedAt: null })))
  })

  it("never takes a step the schema refuses: every field set to each strange value", () => {
    let refused = 0
    for (const field of Object.keys(full) as ReadonlyArray<keyof Step.Encoded>) {
      for (const value of strange) {
        const step = { ...full, [field]: value } as Step.Encoded
        const schemaTakes = isStepRecord(step)
        if (!schemaTakes) refused++
        if (isPlainStep(step)) assert.isTrue(schemaTakes, `${field} = ${JSON.stringify(value)} passed as plain`)
      }
    }
    // the pool is strange enough to be refused often: the check above is not vacuous
    assert.isAbove(refused, 200)
  })
})
