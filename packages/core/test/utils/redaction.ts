/**
 * The redaction scenario every backend runs: a run whose step inputs, outputs, error messages,
 * state, `extraState`, metadata and result hold secrets, recorded under `Redaction.layer`, then
 * resumed from its checkpoint in a fresh scope. Each backend's test greps what it stored (file
 * bytes, rows, request bodies) with `assertNoSecrets`.
 *
 * @since 0.2.0
 */
import { assert } from "@effect/vitest"
import { Data, Effect } from "effect"
import { AgentContext, withAgent } from "../../src/AgentContext.js"
import * as Redaction from "../../src/Redaction.js"
import { RunContext, withRun } from "../../src/RunContext.js"
import { step } from "../../src/Step.js"
import { stopAfter, stoppedValue } from "./Stopped.js"

/**
 * The secrets of the scenario, one per rule kind; none may reach a backend.
 *
 * @since 0.2.0
 */
export const secrets = {
  openAi: "sk-proj-Q7vLm2XwR9tK4pZa8NcE1yHb",
  anthropic: "sk-ant-api03-Jd83kWq0PzXv7LmN2rTy5Ub",
  aws: "AKIAZ7Q3LMNX8R2TWV4P",
  github: "ghp_r4Nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXy",
  bearer: "eyJhbGciOiJIUzI1NiJ9.cmVkYWN0aW9uLXRlc3Q.c2lnbmF0dXJl",
  email: "jane.secret@example.org",
  card: "4242 4242 4242 4242",
  header: "hdr-Xk29Qpl3Mzq8",
  stateKey: "state-Vb71Lmq0Za",
  customer: "cust_82641937"
} as const

/**
 * The rules of the scenario: the built-in patterns, two paths and a custom rule.
 *
 * @since 0.2.0
 */
export const secretRules: ReadonlyArray<Redaction.Rule> = [
  ...Redaction.defaults,
  Redaction.path("input.headers.x-api-key"),
  Redaction.path("state.apiKey"),
  Redaction.custom("customer-id", (value) => typeof value === "string" && value.startsWith("cust_"))
]

/**
 * Fails when `stored` holds any secret, or holds no marker (then the grep looked at nothing).
 *
 * @since 0.2.0
 */
export const assertNoSecrets = (where: string, stored: string): void => {
  for (const [name, secret] of Object.entries(secrets)) {
    assert.notInclude(stored, secret, `${where} holds the ${name} secret`)
  }
  assert.include(stored, "[redacted:", `${where} holds no redaction marker: nothing was looked at`)
}

/** The failure of `charge`: secrets in its message and in its own fields. */
class Declined extends Data.TaggedError("Declined")<{
  readonly message: string
  readonly account: { readonly email: string; readonly key: string }
}> {}

/**
 * How many times each step body of the scenario ran.
 *
 * @since 0.2.0
 */
export type Executions = Record<"lookup" | "answer" | "charge", number>

/**
 * The program: `lookup` (secrets in its input, a plain output), `answer` (secrets in its output),
 * `charge` (fails with secrets in its message and its fields), then a checkpoint with secrets in
 * `extraState`.
 * Run state, agent state, metadata and result hold secrets too.
 */
const program = (executions: Executions) =>
  Effect.gen(function*() {
    const run = yield* RunContext
    yield* run.setState("apiKey", secrets.stateKey)
    const answer = yield* withAgent("support")(Effect.gen(function*() {
      const agent = yield* AgentContext
      yield* agent.setState("note", `card on file ${secrets.card}`)
      const account = yield* Effect.sync(() => executions.lookup++).pipe(
        Effect.as({ plan: "pro" }),
        step("lookup", {
          kind: "tool_call",
          input: {
            headers: { "x-api-key": secrets.header, authorization: `Bearer ${secrets.bearer}` },
            user: secrets.customer,
            email: secrets.email
          }
        })
      )
      const answer = yield* Effect.sync(() => executions.answer++).pipe(
        Effect.as({ reply: `Write to ${secrets.email}`, key: secrets.openAi }),
        step("answer", { kind: "llm_call", input: { prompt: `plan ${account.plan}, use ${secrets.anthropic}` } })
      )
      yield* Effect.sync(() => executions.charge++).pipe(
        Effect.zipRight(Effect.fail(
          new Declined({
            message: `card ${secrets.card} declined for ${secrets.aws}`,
            account: { email: secrets.email, key: secrets.openAi }
          })
        )),
        step("charge", { input: { plan: account.plan } }),
        Effect.ignore
      )
      yield* run.checkpoint("answered", { extraState: { token: secrets.github } })
      return answer
    }))
    return { runId: run.runId, answer, replaying: yield* run.isReplaying }
  })

/**
 * Records the scenario's run, stopped after its checkpoint (failed with the program's value, which
 * holds secrets too) so it can be resumed; gives the program's value.
 *
 * @since 0.2.0
 */
export const recordSecrets = (executions: Executions) =>
  withRun({ name: "secrets", metadata: { contact: secrets.email } })(stopAfter(program(executions))).pipe(stoppedValue)

/**
 * Resumes the scenario's run from its latest checkpoint: `lookup` is replayed (its redacted
 * input matches by hash), `answer` runs again or fails under `onRedactedReplay`.
 *
 * @since 0.2.0
 */
export const resumeSecrets = (runId: string, executions: Executions) =>
  withRun({ name: "secrets", resume: { runId, latest: true } })(program(executions))
