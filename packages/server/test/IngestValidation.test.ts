/**
 * The compiled check of ingest events accepts exactly the events the schema's decoder returns
 * unchanged: valid events of every kind, and none of their mutations that the decoder refuses
 * or would strip. The check reads `effect`'s Schema AST: an upgrade that changes the nodes it
 * reads (their kinds or fields) fails here, by name, before it can make the check wrong.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Event from "@multirun/core/Event"
import { stepRecord } from "@multirun/core/test-utils"
import { Arbitrary, Either, FastCheck as fc, Schema, SchemaAST as AST } from "effect"
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

/** The node kinds `compile` handles; any other compiles to none. */
const compiledKinds = new Set([
  "StringKeyword", "NumberKeyword", "BooleanKeyword", "UndefinedKeyword", "UnknownKeyword", "AnyKeyword",
  "Literal", "Union", "Refinement", "TupleType", "TypeLiteral"
])

/** Whether a field holds an AST node. */
const isNode = (value: unknown): value is AST.AST =>
  typeof value === "object" && value !== null && typeof (value as { readonly _tag?: unknown })._tag === "string"

/**
 * What is wrong with the nodes of `ast` for the check: a kind it does not compile, or a field it
 * reads missing or of another type, each with where it is (`Union[0].step.costUsd`).
 */
const astProblems = (ast: AST.AST, at = "event"): Array<string> => {
  const here = (problem: string) => [`${at} (${ast._tag}): ${problem}`]
  if (!compiledKinds.has(ast._tag)) return here("a node kind the check does not compile")
  const node = ast as unknown as Record<string, any>
  switch (ast._tag) {
    case "Literal":
      return "literal" in node ? [] : here("no `literal`")
    case "Union":
      return Array.isArray(node.types) ? ast.types.flatMap((type, i) => astProblems(type, `${at}[${i}]`)) : here("no `types`")
    case "Refinement":
      return typeof node.filter !== "function" || !isNode(node.from)
        ? here("no `filter` function or `from` node")
        : astProblems(ast.from, at)
    case "TupleType":
      if (!Array.isArray(node.elements) || !Array.isArray(node.rest)) return here("no `elements` or `rest`")
      return [
        ...ast.elements.flatMap((element, i) =>
          typeof element.isOptional === "boolean" ? astProblems(element.type, `${at}[${i}]`) : here(`element ${i} without \`isOptional\``)
        ),
        ...ast.rest.flatMap((rest) => astProblems(rest.type, `${at}[…]`))
      ]
    case "TypeLiteral":
      if (!Array.isArray(node.propertySignatures) || !Array.isArray(node.indexSignatures)) {
        return here("no `propertySignatures` or `indexSignatures`")
      }
      return [
        ...ast.propertySignatures.flatMap((property) =>
          typeof property.isOptional === "boolean" && typeof property.name === "string"
            ? astProblems(property.type, `${at}.${property.name}`)
            : here(`property ${String(property.name)} without a string \`name\` and boolean \`isOptional\``)
        ),
        ...ast.indexSignatures.flatMap((index) =>
          isNode(index.parameter) && index.parameter._tag === "StringKeyword"
            ? astProblems(index.type, `${at}[string]`)
            : here("an index signature not keyed by string")
        )
      ]
    default:
      return []
  }
}

const replacements = fc.option(
  fc.oneof(
    fc.jsonValue(),
    fc.constantFrom<unknown>(undefined, null, -1, 0.5, 2 ** 60, NaN, Infinity, "", "running", "tool_call", true, [], {}, [1], { tag: null, message: "m" })
  ).map((value) => ({ value })),
  { freq: 5 }
).map((replacement) => replacement ?? undefined)

describe("ingest validation", () => {
  it("the event schema's AST holds only the node kinds the check compiles, with the fields it reads; any other node compiles to none", () => {
    const problems = astProblems(eventSchema.ast)
    assert.deepStrictEqual(problems, [], `the AST changed (an effect upgrade?): update internal/accepts.ts\n${problems.slice(0, 5).join("\n")}`)
    assert.isFunction(compile(eventSchema.ast))
    // a node it does not know makes no check at all (ingest then decodes every event), never one that passes all
    for (const unknown of [Schema.NumberFromString, Schema.DateFromSelf, Schema.Struct({ at: Schema.DateFromSelf })]) {
      assert.isUndefined(compile(unknown.ast), String(unknown))
      assert.isNotEmpty(astProblems(unknown.ast), String(unknown))
    }
  })

  it("valid events of each kind are all accepted when the decoder returns them unchanged", () => {
    const kinds = eventSchema.ast._tag === "Union" ? eventSchema.ast.types : [eventSchema.ast]
    assert.isAtLeast(kinds.length, 3)
    for (const kind of kinds) {
      let accepted = 0
      let unchanged = 0
      fc.assert(fc.property(Arbitrary.make(Schema.make(kind)), (event) => {
        if (accepts(event)) accepted++
        if (decodesUnchanged(event)) unchanged++
        assert.strictEqual(accepts(event), decodesUnchanged(event), JSON.stringify(event))
      }), { numRuns: 300 })
      // an arbitrary event now and then is one the decoder changes (and so refused): most are not
      assert.strictEqual(accepted, unchanged, String(kind))
      assert.isAtLeast(accepted, 270, String(kind))
    }
  })

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
