import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Event } from "@multirun/core"

const step = {
  id: "s1",
  runId: "r1",
  agentId: "a1",
  name: "tool",
  kind: "tool_call",
  seq: 0,
  inputHash: "0".repeat(64),
  input: "{\"q\":1}",
  output: "2",
  error: null,
  status: "completed",
  startedAt: 1,
  endedAt: 2,
  latencyMs: 1,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
  tokensUsed: 0,
  costUsd: 0,
  model: null,
  replayed: false
} as const

describe("Event", () => {
  it("stepWritten makes the same event as the class constructor", () => {
    for (const epoch of [undefined, 3]) {
      const made = Event.stepWritten(step, epoch)
      const constructed = new Event.StepWritten({ eventId: made.eventId, step, epoch })
      assert.instanceOf(made, Event.StepWritten)
      assert.deepStrictEqual(Object.keys(made), Object.keys(constructed))
      assert.deepStrictEqual(Schema.encodeSync(Event.Event)(made), Schema.encodeSync(Event.Event)(constructed))
      assert.strictEqual(JSON.stringify(made), JSON.stringify(constructed))
      assert.match(made.eventId, /^[0-9a-f-]{36}$/)
    }
    assert.notStrictEqual(Event.stepWritten(step).eventId, Event.stepWritten(step).eventId)
  })
})
