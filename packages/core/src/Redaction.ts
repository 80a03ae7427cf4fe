/**
 * Redaction of secrets and personal data before anything is written to a backend. Provide
 * `Redaction.layer(rules)` next to the backend layer and every record a run writes (step input,
 * output and error, run and agent metadata, result and error, run and agent state and
 * `extraState` of checkpoints) is redacted in this process, before it is serialized to
 * memory, SQLite, PostgreSQL or the server: the redacted text never reaches disk or the network.
 * Without the layer nothing is looked at and a step costs what it costs.
 *
 * A redacted value is stored as the string `"[redacted:RULE]"`, where RULE names the rule that
 * matched: a path rule replaces the whole value at the path (object, array or scalar), a pattern
 * replaces only the matching text inside a string (`"mail [redacted:email] today"`), a custom
 * rule replaces the whole value it accepts.
 *
 * Paths are rooted at the field they redact: `input`, `output` and `error` of a step; `metadata`,
 * `result` and `error` of runs and agents; `state` (run and agent state alike) and `extraState`
 * of checkpoints. Segments are object keys or array indices separated by dots; `*` matches one
 * segment, `**` any number of segments, none included: `input.headers.authorization`,
 * `output.**.email`, `**.password`, `input.messages.*.content`. An error has a `message` and
 * `data`, the error's own fields: `error.message`, `error.data.response.headers`; a path rule
 * that takes the whole of `error.data` leaves `{ redacted: "[redacted:RULE]" }` in its place.
 *
 * The replay key (`inputHash`) is taken from the original input before redaction, so a resumed
 * run still replays a step whose stored input was redacted. A step whose stored output was
 * redacted cannot give back its original result: by default it executes again (a warning is
 * logged); with `onRedactedReplay: "fail"` it fails with `ReplayError("Redacted")`, and
 * `getStepResult` gives `None` for it. State restored from a checkpoint holds the markers where
 * its values were redacted.
 *
 * The run's `RunContext.client` writes through the redaction too. Spans of `Telemetry.layer` are
 * not redacted: a failed step's span carries its error as Effect recorded it.
 *
 * @example
 * import { Redaction } from "@multirun/core"
 * import { Sqlite } from "@multirun/sql"
 *
 * const Live = Layer.mergeAll(
 *   Sqlite.layer({ filename: ".multirun/runs.db" }),
 *   Redaction.layer([...Redaction.defaults, Redaction.path("input.headers.authorization")])
 * )
 *
 * @since 0.2.0
 */
import { Context, Layer } from "effect"
import * as internal from "./internal/redaction.js"

/**
 * A step of a path: an object key or an array index.
 *
 * @since 0.2.0
 */
export type Segment = string | number

/**
 * Replaces the whole value at every path that matches `path` (see the module documentation).
 *
 * @since 0.2.0
 */
export interface PathRule {
  readonly _tag: "Path"
  readonly name: string
  readonly path: string
}

/**
 * Replaces the text that `pattern` matches inside strings, object keys and the decimal text of
 * numbers. `accept`, when given, confirms each match (e.g. a checksum).
 *
 * @since 0.2.0
 */
export interface PatternRule {
  readonly _tag: "Pattern"
  readonly name: string
  readonly pattern: RegExp
  readonly accept?: ((match: string) => boolean) | undefined
}

/**
 * Replaces every value for which `test` returns true. It is called on every value (objects and
 * arrays too, before their members) with its path, root first (`["input", "user", "id"]`); the
 * path array is reused, copy it to keep it. A `test` that throws counts as a match.
 *
 * @since 0.2.0
 */
export interface CustomRule {
  readonly _tag: "Custom"
  readonly name: string
  readonly test: (value: unknown, path: ReadonlyArray<Segment>) => boolean
}

/**
 * A redaction rule.
 *
 * @since 0.2.0
 */
export type Rule = PathRule | PatternRule | CustomRule

/**
 * What a replayed step does when its recorded output was redacted: execute again (`"execute"`,
 * the default, logged as a warning) or fail with `ReplayError("Redacted")` (`"fail"`).
 *
 * @since 0.2.0
 */
export type RedactedReplayPolicy = "execute" | "fail"

/**
 * A path rule, named after its path unless `name` is given: `[redacted:input.headers.authorization]`.
 *
 * @since 0.2.0
 */
export const path = (path: string, options?: { readonly name?: string | undefined }): PathRule => {
  internal.parsePath(path)
  return { _tag: "Path", name: options?.name ?? path, path }
}

/**
 * A pattern rule.
 *
 * @since 0.2.0
 */
export const pattern = (
  name: string,
  pattern: RegExp,
  options?: { readonly accept?: ((match: string) => boolean) | undefined }
): PatternRule => ({ _tag: "Pattern", name, pattern, accept: options?.accept })

/**
 * A rule given by a function of the value and its path.
 *
 * @since 0.2.0
 */
export const custom = (name: string, test: (value: unknown, path: ReadonlyArray<Segment>) => boolean): CustomRule => ({
  _tag: "Custom",
  name,
  test
})

/**
 * Whether a run of digits (spaces and dashes ignored) passes the Luhn checksum of card numbers.
 *
 * @since 0.2.0
 */
export const luhn = (text: string): boolean => {
  const digits = text.replace(/[ -]/g, "")
  let sum = 0
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 1 && (digit *= 2) > 9) digit -= 9
    sum += digit
  }
  return digits.length > 0 && sum % 10 === 0
}

/** Anthropic API keys `sk-ant-...` (listed before OpenAI's, whose shape they share). @since 0.2.0 */
export const anthropicKey: PatternRule = pattern("anthropic-key", /\bsk-ant-[A-Za-z0-9_-]{20,}/)

/** OpenAI API keys `sk-...`, `sk-proj-...`. @since 0.2.0 */
export const openAiKey: PatternRule = pattern("openai-key", /\bsk-[A-Za-z0-9_-]{20,}/)

/** AWS access key ids `AKIA...` / `ASIA...`. @since 0.2.0 */
export const awsAccessKey: PatternRule = pattern("aws-access-key", /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/)

/** GitHub tokens `ghp_...`, `gho_`, `ghu_`, `ghs_`, `ghr_` and `github_pat_...`. @since 0.2.0 */
export const githubToken: PatternRule = pattern(
  "github-token",
  /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/
)

/** Bearer tokens `Bearer xxx` (the word included), as in an `Authorization` header. @since 0.2.0 */
export const bearerToken: PatternRule = pattern("bearer-token", /\bBearer\s+[A-Za-z0-9._~+/-]+=*/i)

/** Email addresses. @since 0.2.0 */
export const email: PatternRule = pattern(
  "email",
  /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/
)

/** Card numbers: 13 to 19 digits, spaces or dashes between them allowed, Luhn-checked. @since 0.2.0 */
export const cardNumber: PatternRule = pattern("card-number", /\b\d(?:[ -]?\d){12,18}\b/, { accept: luhn })

/**
 * The API-key shapes: Anthropic, OpenAI, AWS, GitHub, bearer tokens.
 *
 * @since 0.2.0
 */
export const apiKeys: ReadonlyArray<Rule> = [anthropicKey, openAiKey, awsAccessKey, githubToken, bearerToken]

/**
 * Every built-in pattern: the API-key shapes, emails and card numbers.
 *
 * @since 0.2.0
 */
export const defaults: ReadonlyArray<Rule> = [...apiKeys, email, cardNumber]

/**
 * The marker a redacted value is stored as: `[redacted:NAME]`.
 *
 * @since 0.2.0
 */
export const marker: (name: string) => string = internal.markerOf

/**
 * Whether a stored string holds a redaction marker.
 *
 * @since 0.2.0
 */
export const isRedacted: (text: string) => boolean = internal.holdsMarker

/**
 * The redaction of the runs in its scope: the rules, in order, and the replay policy.
 *
 * @since 0.2.0
 */
export interface RedactionService {
  readonly rules: ReadonlyArray<Rule>
  readonly onRedactedReplay: RedactedReplayPolicy
}

/**
 * The redaction tag. The runtime looks it up once per run: without it no record is looked at.
 *
 * @since 0.2.0
 */
export class Redaction extends Context.Tag("@multirun/core/Redaction")<Redaction, RedactionService>() {}

/**
 * Options of {@link layer}.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly onRedactedReplay?: RedactedReplayPolicy | undefined
}

/**
 * The redaction service of `rules`.
 *
 * @since 0.2.0
 */
export const make = (rules: ReadonlyArray<Rule>, options: Options = {}): RedactionService => ({
  rules,
  onRedactedReplay: options.onRedactedReplay ?? "execute"
})

/**
 * Redacts every record of the runs it is provided to with `rules`.
 *
 * @example
 * program.pipe(Effect.provide(Layer.mergeAll(Sqlite.layer({ filename }), Redaction.layer(Redaction.defaults))))
 *
 * @since 0.2.0
 */
export const layer = (rules: ReadonlyArray<Rule>, options?: Options): Layer.Layer<Redaction> =>
  Layer.succeed(Redaction, make(rules, options))
