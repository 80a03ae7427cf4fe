/**
 * Error records: an error's own fields kept as JSON (a Schema error through its encoding, a field
 * that is not JSON described, never a crash), its kind, records of 0.2 still read, and redaction
 * of the fields. Every backend stores them the same (see `utils/conformanceValues.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, DateTime, Effect, Either, Schema } from "effect"
import { AgentContext, withAgent } from "../src/AgentContext.js"
import { errorInfo, maxErrorFieldSize } from "../src/internal/errorInfo.js"
import { LocalLayer } from "../src/LocalLayer.js"
import { ErrorInfo } from "../src/Model.js"
import { MultiRunClient } from "../src/MultiRunClient.js"
import * as Redaction from "../src/Redaction.js"
import { RunContext, withRun } from "../src/RunContext.js"
import * as Step from "../src/Step.js"
import { secrets } from "./utils/index.js"

class Expired extends Schema.TaggedError<Expired>()("Expired", {
  at: Schema.DateTimeUtc,
  message: Schema.String
}) {}

class Declined extends Data.TaggedError("Declined")<{
  readonly when: Date
  readonly cause: Error
  readonly body: string
  readonly callback: () => void
  readonly account: { readonly email: string; readonly key: string }
}> {}

describe("error records", () => {
  it("a Schema error keeps its fields through its schema's encoding", () => {
    const info = errorInfo(new Expired({ at: DateTime.unsafeMake(0), message: "card expired" }))
    assert.deepStrictEqual(info, {
      tag: "Expired",
      message: "card expired",
      kind: "failure",
      data: { at: "1970-01-01T00:00:00.000Z" }
    })
  })

  it("a field that is not JSON, too long or unreadable is described; nothing throws", () => {
    const error = new Declined({
      when: new Date(0),
      cause: new TypeError("fetch failed"),
      body: "x".repeat(maxErrorFieldSize + 1),
      callback: () => undefined,
      account: { email: "a@b.c", key: "k" }
    })
    Object.defineProperty(error, "broken", {
      enumerable: true,
      get: () => {
        throw new Error("no access")
      }
    })
    assert.deepStrictEqual(errorInfo(error, "defect"), {
      tag: "Declined",
      message: "",
      kind: "defect",
      data: {
        account: { email: "a@b.c", key: "k" },
        body: `[not kept: ${maxErrorFieldSize + 3} characters of JSON]`,
        broken: "[unreadable: no access]",
        callback: "[not JSON: function]",
        cause: "[TypeError: fetch failed]",
        when: "[not JSON: Date]"
      }
    })
  })

  it("errors without fields have no data: strings, plain Errors, empty objects", () => {
    assert.deepStrictEqual(errorInfo("boom"), { tag: null, message: "boom", kind: "failure" })
    assert.deepStrictEqual(errorInfo(new Error("bad")), { tag: null, message: "bad", kind: "failure" })
    assert.deepStrictEqual(errorInfo({ code: 7, note: undefined }), {
      tag: null,
      message: "{\"code\":7}",
      kind: "failure",
      data: { code: 7 }
    })
  })

  it("records written by 0.2 (tag and message only) still decode; a wrong kind or data does not", () => {
    const decode = Schema.decodeUnknownEither(ErrorInfo)
    assert.isTrue(Either.isRight(decode({ tag: "Boom", message: "" })))
    assert.isTrue(Either.isLeft(decode({ tag: "Boom", message: "", kind: "crash" })))
    assert.isTrue(Either.isLeft(decode({ tag: "Boom", message: "", data: "text" })))
    assert.isTrue(Either.isLeft(decode({ tag: "Boom", message: "", kind: undefined })))
  })

  it.effect("run.fail, agent.fail and a step driven by hand record typed failures with their fields", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const expired = new Expired({ at: DateTime.unsafeMake(0), message: "late" })
      const runId = yield* withRun("by-hand")(Effect.gen(function*() {
        const run = yield* RunContext
        yield* withAgent("a")(Effect.gen(function*() {
          const agent = yield* AgentContext
          const step = yield* agent.startStep({ name: "manual" })
          yield* step.fail(expired)
          yield* agent.fail(expired)
        }))
        yield* run.fail(expired)
        return run.runId
      }))
      const expected = { tag: "Expired", message: "late", kind: "failure", data: { at: "1970-01-01T00:00:00.000Z" } }
      const [steps, agents, run] = yield* Effect.all([client.listSteps(runId), client.listAgents(runId), client.getRun(runId)])
      assert.deepStrictEqual(
        [steps[0]!.error, agents[0]!.error, run._tag === "Some" ? run.value.error : "no run"],
        [expected, expected, expected]
      )
    }).pipe(Effect.provide(LocalLayer)))

  it.effect("redaction rules apply to the error's fields: paths under error.data and patterns", () =>
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      class Leaked extends Data.TaggedError("Leaked")<{
        readonly account: { readonly email: string; readonly key: string; readonly plan: string }
        readonly token: string
      }> {}
      const runId = yield* withRun("redacted-errors")(Effect.gen(function*() {
        yield* Effect.exit(
          Effect.fail(new Leaked({ account: { email: secrets.email, key: "k-1", plan: "pro" }, token: secrets.github }))
            .pipe(Step.step("leak"))
        )
        return (yield* RunContext).runId
      }))
      const [step] = yield* client.listSteps(runId)
      assert.deepStrictEqual(step!.error?.data, {
        account: { email: "[redacted:email]", key: "[redacted:account-key]", plan: "pro" },
        token: "[redacted:github-token]"
      })
      const whole = yield* withRun("whole-data")(Effect.gen(function*() {
        yield* Effect.exit(Effect.fail(new Leaked({ account: { email: "", key: "", plan: "" }, token: "" })).pipe(Step.step("s")))
        return (yield* RunContext).runId
      })).pipe(Effect.provide(Redaction.layer([Redaction.path("error.data", { name: "all-data" })])))
      const [wholeStep] = yield* client.listSteps(whole)
      assert.deepStrictEqual(wholeStep!.error?.data, { redacted: "[redacted:all-data]" })
    }).pipe(
      Effect.provide(Redaction.layer([...Redaction.defaults, Redaction.path("error.data.account.key", { name: "account-key" })])),
      Effect.provide(LocalLayer)
    ))
})
