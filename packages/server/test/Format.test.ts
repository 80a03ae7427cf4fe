/**
 * The shared formatting of the command line and the viewer: short ids that tell runs apart (a
 * run and its fork made by one process share both the front and the tail of their ids), and
 * costs that never show an unknown one as `$0`.
 */
import { assert, describe, it } from "@effect/vitest"
import { uuidv7 } from "@multirun/core/Ids"
import { cost, money, shortId, totalCost } from "../src/internal/format.js"

describe("format", () => {
  it("short ids tell apart ids of one process, a run and its fork made a moment later included", () => {
    const run = uuidv7.next(1_800_000_000_000)
    const fork = uuidv7.next(1_800_000_000_005)
    // what a prefix or the tail would show: the same for both
    assert.strictEqual(run.slice(0, 8), fork.slice(0, 8))
    assert.strictEqual(run.slice(-8), fork.slice(-8))
    assert.match(shortId(run), /^[0-9a-f]{8}$/)
    assert.notStrictEqual(shortId(run), shortId(fork))
    assert.strictEqual(shortId(run), shortId(`${run}`), "the same id, the same short id")
    // 10,000 ids of one process (7 per millisecond): fixed, so the outcome does not vary with the tail
    const many = Array.from({ length: 10_000 }, (_, i) => {
      const time = (1_800_000_000_000 + Math.floor(i / 7)).toString(16).padStart(12, "0")
      return `${time.slice(0, 8)}-${time.slice(8)}-${(0x7000 | (i % 7)).toString(16)}-9e41-5c02f3a8d7b6`
    })
    assert.strictEqual(new Set(many.map(shortId)).size, many.length)
  })

  it("an unknown cost shows as unknown, never $0; a total missing some shows ≥ and how many are unpriced", () => {
    assert.strictEqual(money(null), "unknown")
    assert.strictEqual(cost(null), "cost unknown")
    assert.strictEqual(totalCost(null, 3), "unknown")
    assert.strictEqual(totalCost(0.25, 3), "≥ $0.2500 (3 unpriced)")
    assert.strictEqual(totalCost(0, 1), "unknown")
    assert.strictEqual(totalCost(0.25, 0), "$0.2500")
    assert.strictEqual(totalCost(0.25), "$0.2500")
    assert.strictEqual(totalCost(0), "$0")
  })
})
