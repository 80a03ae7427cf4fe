import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Event } from "@multirun/core"
import { stepRecord } from "@multirun/core/test-utils"

const step = stepRecord("s1", "r1", "a1", 0)

describe("Event", () => {
  it("stepWritten makes the same event as the class constructor", () => {
    for (const epoch of [undefined, 3]) {
      const made = Event.stepWritten(step, epoch)
      // as the constructor made it before: checks off, the record kept as given
      const constructed = new Event.StepWritten({ eventId: made.eventId, step, epoch }, true)
      assert.instanceOf(made, Event.StepWritten)
      assert.deepStrictEqual(Object.keys(made), Object.keys(constructed))
      assert.deepStrictEqual(Schema.encodeSync(Event.Event)(made), Schema.encodeSync(Event.Event)(constructed))
      assert.strictEqual(JSON.stringify(made), JSON.stringify(constructed))
      assert.match(made.eventId, /^[0-9a-f-]{36}$/)
    }
    assert.notStrictEqual(Event.stepWritten(step).eventId, Event.stepWritten(step).eventId)
  })
})
