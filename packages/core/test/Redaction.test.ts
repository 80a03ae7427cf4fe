/**
 * `Redaction.layer`: rules (paths with `*` and `**`, built-in patterns, Luhn-checked cards, a
 * custom function), markers naming the rule, every record kind redacted before the backend sees
 * it, the replay hash taken from the original input, and `onRedactedReplay` on resume. The same
 * scenario runs on SQLite, PostgreSQL and the server in their packages.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Option } from "effect"
import { AgentContext, withAgent } from "../src/AgentContext.js"
import { ReplayError } from "../src/Errors.js"
import { sha256 } from "../src/internal/canonical.js"
import { makeMemory, MultiRunClient, type MultiRunClientService } from "../src/MultiRunClient.js"
import * as Redaction from "../src/Redaction.js"
import { RunContext, withRun } from "../src/RunContext.js"
import { step } from "../src/Step.js"
import {
  assertNoSecrets,
  type Executions,
  recordSecrets,
  resumeSecrets,
  stopAfter,
  stoppedValue,
  secretRules,
  secrets
} from "./utils/index.js"

/** Everything the backend holds, as one JSON text. */
const everything = (client: MultiRunClientService) =>
  Effect.gen(function*() {
    const runs = yield* client.listRuns()
    const parts: Array<unknown> = [runs]
    for (const run of runs) {
      parts.push(
        yield* client.listAgents(run.id),
        yield* client.listSteps(run.id),
        yield* client.listCheckpoints(run.id)
      )
    }
    return JSON.stringify(parts)
  })

/** The stored input and output of a one-step run under `rules`. */
const stored = (rules: ReadonlyArray<Redaction.Rule>, input: unknown, output: unknown) =>
  Effect.gen(function*() {
    const client = yield* makeMemory
    const runId = yield* withRun("one")(
      Effect.succeed(output).pipe(step("s", { input }), Effect.zipRight(Effect.map(RunContext, (run) => run.runId)))
    ).pipe(Effect.provideService(MultiRunClient, client), Effect.provide(Redaction.layer(rules)))
    const [record] = yield* client.listSteps(runId)
    return {
      input: JSON.parse(record!.input),
      output: record!.output === null ? null : JSON.parse(record!.output),
      inputHash: record!.inputHash
    }
  })

/** Log messages of `effect` at warning level and above. */
const warnings = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => logs.push([message].flat().map(String).join(" ")))
  return Effect.map(
    Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger)),
    (value) => ({ value, logs })
  )
}

const zero = (): Executions => ({ lookup: 0, answer: 0, charge: 0 })

describe("Redaction", () => {
  it.effect("built-in patterns: API keys, bearer tokens, emails, Luhn-valid card numbers", () =>
    Effect.gen(function*() {
      const { input } = yield* stored(Redaction.defaults, {
        openai: `key ${secrets.openAi}`,
        anthropic: secrets.anthropic,
        aws: `id=${secrets.aws}`,
        github: secrets.github,
        githubPat: "github_pat_11ABCDEFG0123456789abcdefghij",
        bearer: `Bearer ${secrets.bearer}`,
        email: `mail ${secrets.email}, please`,
        card: `pay with ${secrets.card}`,
        cardNumber: 4111111111111111,
        notACard: "1234 5678 9012 3456",
        plain: "nothing here sk-short 42"
      }, null)
      assert.deepStrictEqual(input, {
        openai: "key [redacted:openai-key]",
        anthropic: "[redacted:anthropic-key]",
        aws: "id=[redacted:aws-access-key]",
        github: "[redacted:github-token]",
        githubPat: "[redacted:github-token]",
        bearer: "[redacted:bearer-token]",
        email: "mail [redacted:email], please",
        card: "pay with [redacted:card-number]",
        cardNumber: "[redacted:card-number]",
        notACard: "1234 5678 9012 3456",
        plain: "nothing here sk-short 42"
      })
    }))

  it.effect("paths: `*` is one segment, `**` any depth; the marker names the path, or the name given", () =>
    Effect.gen(function*() {
      const rules = [
        Redaction.path("input.headers.authorization"),
        Redaction.path("output.**.email", { name: "email-field" }),
        Redaction.path("input.items.*.secret"),
        Redaction.path("**.password")
      ]
      const { input, output } = yield* stored(rules, {
        headers: { authorization: "token-1", accept: "json" },
        nested: { headers: { authorization: "kept" } },
        items: [{ secret: { deep: 1 }, id: 1 }, { secret: "x", id: 2 }],
        login: { user: "u", password: "p4ss" }
      }, { email: "a", user: { profile: { email: "b" } }, emails: ["c"] })
      assert.deepStrictEqual(input, {
        headers: { authorization: "[redacted:input.headers.authorization]", accept: "json" },
        nested: { headers: { authorization: "kept" } },
        items: [{ secret: "[redacted:input.items.*.secret]", id: 1 }, { secret: "[redacted:input.items.*.secret]", id: 2 }],
        login: { user: "u", password: "[redacted:**.password]" }
      })
      assert.deepStrictEqual(output, {
        email: "[redacted:email-field]",
        user: { profile: { email: "[redacted:email-field]" } },
        emails: ["c"]
      })
      assert.throws(() => Redaction.path("input..x"), /empty segment/)
    }))

  it.effect("custom rules see each value with its path; one that throws redacts; keys are redacted too", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const rules = [
        Redaction.custom("ssn", (_, path) => {
          seen.push(path.join("."))
          return path.at(-1) === "ssn"
        }),
        Redaction.custom("broken", (value) => {
          if (value === "boom") throw new Error("rule bug")
          return false
        }),
        Redaction.email
      ]
      const { input } = yield* stored(rules, {
        ssn: "123-45-6789",
        list: ["boom", "ok"],
        byEmail: { [secrets.email]: 1, "bob@example.com": 2 }
      }, null)
      assert.deepStrictEqual(input, {
        ssn: "[redacted:ssn]",
        list: ["[redacted:broken]", "ok"],
        // in canonical (sorted) key order: bob's address comes first
        byEmail: { "[redacted:email]": 2, "[redacted:email]#2": 1 }
      })
      assert.includeMembers(seen, ["input", "input.ssn", "input.list.0", "input.byEmail"])
    }))

  it.effect("what the rules match is found in escaped strings, with anchors, and at the root itself", () =>
    Effect.gen(function*() {
      const escaped = yield* stored(Redaction.defaults, { text: `line one\n"quoted" ${secrets.openAi}\tend` }, null)
      assert.deepStrictEqual(escaped.input, { text: `line one\n"quoted" [redacted:openai-key]\tend` })
      const anchored = yield* stored([Redaction.pattern("order", /^ord-\d+$/)], { id: "ord-123", note: "see ord-123" }, null)
      assert.deepStrictEqual(anchored.input, { id: "[redacted:order]", note: "see ord-123" })
      const root = yield* stored([Redaction.path("**.input"), Redaction.path("output.*")], "secret", { a: 1, b: [2] })
      assert.deepStrictEqual([root.input, root.output], ["[redacted:**.input]", { a: "[redacted:output.*]", b: "[redacted:output.*]" }])
    }))

  it.effect("the replay hash is the SHA-256 of the original canonical input", () =>
    Effect.gen(function*() {
      const { input, inputHash } = yield* stored(Redaction.defaults, { b: secrets.email, a: 1 }, null)
      assert.deepStrictEqual(input, { a: 1, b: "[redacted:email]" })
      assert.strictEqual(inputHash, sha256(`{"a":1,"b":"${secrets.email}"}`))
    }))

  it.effect("without the layer nothing is redacted and the run writes to the backend itself", () =>
    Effect.gen(function*() {
      const client = yield* makeMemory
      const { value } = yield* Effect.gen(function*() {
        const run = yield* RunContext
        // reads are the backend's own; writes only gain the run's lease epoch
        assert.strictEqual(run.client.listSteps, client.listSteps)
        return yield* Effect.succeed(secrets.email).pipe(step("s", { input: secrets.openAi }))
      }).pipe(withRun("plain"), Effect.provideService(MultiRunClient, client), warnings)
      assert.strictEqual(value, secrets.email)
      const text = yield* everything(client)
      assert.include(text, secrets.email)
      assert.include(text, secrets.openAi)
    }))

  it.effect("no secret of inputs, outputs, errors, state, extraState, metadata or results reaches the backend", () =>
    Effect.gen(function*() {
      const client = yield* makeMemory
      const executions = zero()
      const result = yield* recordSecrets(executions).pipe(
        Effect.provideService(MultiRunClient, client),
        Effect.provide(Redaction.layer(secretRules))
      )
      // the program sees its real values: only what is stored is redacted
      assert.strictEqual(result.answer.key, secrets.openAi)
      const text = yield* everything(client)
      assertNoSecrets("the memory backend", text)
      for (
        const marker of [
          "input.headers.x-api-key",
          "bearer-token",
          "customer-id",
          "email",
          "openai-key",
          "anthropic-key",
          "aws-access-key",
          "card-number",
          "state.apiKey",
          "github-token"
        ]
      ) assert.include(text, `[redacted:${marker}]`)
    }))

  it.effect("resume: a redacted input still replays; a redacted output executes again, with a warning", () =>
    Effect.gen(function*() {
      const client = yield* makeMemory
      const provide = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.provideService(MultiRunClient, client), Effect.provide(Redaction.layer(secretRules)))
      const { runId } = yield* provide(recordSecrets(zero()))
      const executions = zero()
      const { logs, value } = yield* warnings(provide(resumeSecrets(runId, executions)))
      assert.deepStrictEqual(executions, { lookup: 0, answer: 1, charge: 1 })
      assert.strictEqual(value.answer.key, secrets.openAi)
      assert.isFalse(value.replaying)
      assert.isTrue(logs.some((log) => log.includes("ReplayError(Redacted)") && log.includes(`"answer"`)))
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(
        steps.filter((s) => s.seq >= 3).map((s) => [s.name, s.replayed, s.status]),
        [["answer", false, "completed"], ["charge", false, "failed"]]
      )
      assertNoSecrets("the memory backend after the resume", yield* everything(client))
    }))

  it.effect("resume under onRedactedReplay: \"fail\" fails with ReplayError(Redacted); a step may override", () =>
    Effect.gen(function*() {
      const client = yield* makeMemory
      const { runId } = yield* recordSecrets(zero()).pipe(
        Effect.provideService(MultiRunClient, client),
        Effect.provide(Redaction.layer(secretRules))
      )
      const executions = zero()
      const exit = yield* resumeSecrets(runId, executions).pipe(
        Effect.provideService(MultiRunClient, client),
        Effect.provide(Redaction.layer(secretRules, { onRedactedReplay: "fail" })),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Cause.failureOption(Exit.isFailure(exit) ? exit.cause : Cause.empty))
      assert.instanceOf(error, ReplayError)
      const replayError = error as ReplayError
      assert.strictEqual(replayError.reason, "Redacted")
      assert.strictEqual(replayError.stepName, "answer")
      assert.strictEqual(replayError.agentName, "support")
      assert.deepStrictEqual(executions, { lookup: 0, answer: 0, charge: 0 })

      // the step's own option wins over the layer's
      const overridden = yield* withRun({ name: "secrets", resume: { runId, latest: true } })(
        withAgent("support")(Effect.gen(function*() {
          const agent = yield* AgentContext
          assert.isTrue(Option.isNone(yield* agent.getStepResult("answer", { prompt: `plan pro, use ${secrets.anthropic}` })))
          yield* Effect.succeed("ignored").pipe(step("lookup", {
            kind: "tool_call",
            input: {
              headers: { "x-api-key": secrets.header, authorization: `Bearer ${secrets.bearer}` },
              user: secrets.customer,
              email: secrets.email
            }
          }))
          return yield* Effect.succeed("again").pipe(step("answer", {
            kind: "llm_call",
            input: { prompt: `plan pro, use ${secrets.anthropic}` },
            onRedactedReplay: "execute"
          }))
        }))
      ).pipe(
        Effect.provideService(MultiRunClient, client),
        Effect.provide(Redaction.layer(secretRules, { onRedactedReplay: "fail" }))
      )
      assert.strictEqual(overridden, "again")
    }))

  it.effect("drift on a redacted input names the field that changed, not the redacted one", () =>
    Effect.gen(function*() {
      const client = yield* makeMemory
      const layer = Layer.merge(Layer.succeed(MultiRunClient, client), Redaction.layer(Redaction.defaults))
      const call = (city: string) => Effect.succeed(city).pipe(step("ask", { input: { key: secrets.openAi, city } }))
      const runId = yield* withRun("drift")(stopAfter(Effect.gen(function*() {
        yield* call("Paris")
        yield* (yield* RunContext).checkpoint("one")
        return (yield* RunContext).runId
      }))).pipe(stoppedValue, Effect.provide(layer))
      const { logs } = yield* withRun({ name: "drift", resume: { runId, latest: true } })(call("Rome")).pipe(
        Effect.provide(layer),
        warnings
      )
      // decided at the run's end: the recorded call was left unmatched
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => s.drift), [null, "input.city"])
      assert.isTrue(logs.some((log) => log.includes("ReplayError(InputChanged)")))
    }))
})
