/**
 * The compiled check of ingest events accepts exactly the events the schema's decoder returns
 * unchanged: valid events of every kind, and none of their mutations that the decoder refuses
 * or would strip.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Event from "@multirun/core/Event"
import { stepRecord } from "@multirun/core/test-utils"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { isDeepStrictEqual } from "node:util"
import { compile } from "../src/internal/accepts.js"

const eventSchema = Schema.encodedBoundSchema(Event.Event)
const decode = Schema.decodeUnknownEither(eventSchema)
const accepts = compile(eventSchema.ast)!

/** Whether the decoder returns the value unchanged (a value it throws on, it does not). */
const decodesUnchanged = (value: unknown) => {
  try {
    const decoded = decode(value)
    return Either.isRight(decoded) && isDeepStrictEqual(decoded.right, value)
  } catch {
    return false
  }
}

/** A copy of a JSON-like value with the value at `path` replaced (or removed when `replacement` is absent). */
const mutate = (value: unknown, path: ReadonlyArray<string>, replacement: { readonly value: unknown } | undefined): unknown => {
  if (path.length === 0) return replacement?.value
  if (typeof value !== "object" || value === null) return value
  const copy: Record<string, unknown> = Array.isArray(value) ? [...value] as any : { ...value }
  const [key, ...rest] = path
  if (rest.length === 0 && replacement === undefined) delete copy[key!]
  else copy[key!] = mutate(copy[key!], rest, replacement)
  return copy
}

/** The paths of an event's fields, one and two levels deep, and a new key at each level. */
const pathsOf = (event: Record<string, any>): Array<Array<string>> => {
  const paths: Array<Array<string>> = [["extra"]]
  for (const key of Object.keys(event)) {
    paths.push([key])
    const inner = event[key]
    if (typeof inner === "object" && inner !== null && !Array.isArray(inner)) {
      paths.push([key, "extra"])
      for (const field of Object.keys(inner)) paths.push([key, field])
    }
  }
  return paths
}

const replacements = fc.option(
  fc.oneof(
    fc.jsonValue(),
    fc.constantFrom<unknown>(undefined, null, -1, 0.5, 2 ** 60, NaN, Infinity, "", "running", "tool_call", true, [], {}, [1], { tag: null, message: "m" })
  ).map((value) => ({ value })),
  { freq: 5 }
).map((replacement) => replacement ?? undefined)

describe("ingest validation", () => {
  it("an error record with kind and data is accepted, one of 0.2 too; a wrong kind or data is refused", () => {
    const withError = (error: unknown) => ({
      _tag: "StepWritten",
      eventId: "e-1",
      step: stepRecord("step-1", "run-1", "agent-1", 0, { status: "failed", output: null, error: error as never })
    })
    const valid = [
      { tag: "Boom", message: "" },
      { tag: "Boom", message: "", kind: "defect", data: { reason: "r", nested: { list: [1, null] } } },
      { tag: "Interrupted", message: "interrupted", kind: "interruption" }
    ]
    for (const error of valid) {
      const event = withError(error)
      assert.isTrue(accepts(event), JSON.stringify(error))
      assert.isTrue(decodesUnchanged(event), JSON.stringify(error))
    }
    const invalid = [
      { tag: "Boom", message: "", kind: "crash" },
      { tag: "Boom", message: "", data: "text" },
      { tag: "Boom", message: "", data: [1] },
      { tag: "Boom", message: "", kind: null }
    ]
    for (const error of invalid) {
      const event = withError(error)
      assert.isFalse(accepts(event), JSON.stringify(error))
      assert.isTrue(Either.isLeft(decode(event)), JSON.stringify(error))
    }
  })

  it("the compiled check accepts every valid event the decoder returns unchanged", () => {
    let accepted = 0
    fc.assert(fc.property(Arbitrary.make(eventSchema), (event) => {
      if (accepts(event)) accepted++
      assert.strictEqual(accepts(event), decodesUnchanged(event), JSON.stringify(event))
    }), { numRuns: 2_000 })
    assert.isAbove(accepted, 1_900)
  })

  it("a mutated event is accepted exactly when the decoder returns it unchanged", () => {
    let refused = 0
    fc.assert(fc.property(
      Arbitrary.make(eventSchema).chain((event) =>
        fc.tuple(fc.constant(event), fc.constantFrom(...pathsOf(event as Record<string, unknown>)), replacements)
      ),
      ([event, path, replacement]) => {
        const mutated = mutate(event, path, replacement)
        const expected = decodesUnchanged(mutated)
        if (!expected) refused++
        assert.strictEqual(accepts(mutated), expected, `${path.join(".")}: ${JSON.stringify(mutated)}`)
      }
    ), { numRuns: 5_000 })
    assert.isAbove(refused, 1_000, "most mutations make an event the decoder refuses or strips")
  })
})
