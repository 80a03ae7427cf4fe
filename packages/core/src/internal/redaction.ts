/**
 * Redaction in this process: the rules compiled once per run, the walk that replaces what they
 * match, and the backend wrapper that redacts every record before the backend sees it.
 */
import type * as Agent from "../Agent.js"
import type * as Checkpoint from "../Checkpoint.js"
import { ReplayError } from "../Errors.js"
import type { ErrorInfo } from "../Model.js"
import type { MultiRunClientService } from "../MultiRunClient.js"
import type { RedactedReplayPolicy, RedactionService, Segment } from "../Redaction.js"
import type * as Run from "../Run.js"
import type * as StepRecord from "../StepRecord.js"
import { canonicalJson } from "./canonical.js"

const markerPrefix = "[redacted:"

/** The stored form of a value redacted by the rule `name`. */
export const markerOf = (name: string): string => `${markerPrefix}${name}]`

/** Whether stored text holds a redaction marker. */
export const holdsMarker = (text: string): boolean => text.includes(markerPrefix)

/** Whether a value is a whole marker: a drift report does not point at what redaction replaced. */
export const isMarker = (value: unknown): boolean =>
  typeof value === "string" && value.startsWith(markerPrefix) && value.endsWith("]")

/** The error of a replayed step whose recorded output was redacted. */
export const redactedOutput = (agentName: string, stepName: string): ReplayError =>
  new ReplayError({
    reason: "Redacted",
    stepName,
    agentName,
    detail: "replay cannot return the original result, so the step must execute again " +
      "(`onRedactedReplay: \"execute\"`, the default) or its output be exempted from the redaction rules."
  })

/** The segments of a path pattern; throws on an empty segment. */
export const parsePath = (path: string): ReadonlyArray<string> => {
  const segments = path.split(".")
  if (segments.some((segment) => segment === "")) {
    throw new Error(
      `Redaction.path("${path}"): empty segment; write segments separated by single dots, e.g. "input.headers.authorization"`
    )
  }
  return segments
}

/** Whether `path[i..]` matches `pattern[p..]`; `*` is one segment, `**` any number. */
const matches = (pattern: ReadonlyArray<string>, p: number, path: ReadonlyArray<Segment>, i: number): boolean => {
  if (p === pattern.length) return i === path.length
  const segment = pattern[p]!
  if (segment === "**") return matches(pattern, p + 1, path, i) || (i < path.length && matches(pattern, p, path, i + 1))
  return i < path.length && (segment === "*" || segment === String(path[i])) && matches(pattern, p + 1, path, i + 1)
}

/** A user callback that throws counts as a match: a failing rule keeps the value out. */
const safely = <A extends ReadonlyArray<unknown>>(f: (...args: A) => boolean, ...args: A): boolean => {
  try {
    return f(...args)
  } catch {
    return true
  }
}

/**
 * The regexes that tell whether any pattern matches a text: one per flag set, the patterns joined
 * as alternatives, so a text without secrets is scanned once or twice whatever the number of
 * patterns. A pattern that cannot join others (backreferences, named groups) is tested alone.
 */
const anyOf = (patterns: ReadonlyArray<RegExp>): Array<RegExp> => {
  const byFlags = new Map<string, Array<string>>()
  const tests: Array<RegExp> = []
  for (const pattern of patterns) {
    if (/\\[1-9]|\\k<|\(\?<[A-Za-z_$]/.test(pattern.source)) {
      tests.push(pattern)
      continue
    }
    const sources = byFlags.get(pattern.flags) ?? []
    sources.push(`(?:${pattern.source})`)
    byFlags.set(pattern.flags, sources)
  }
  for (const [flags, sources] of byFlags) tests.push(new RegExp(sources.join("|"), flags))
  return tests
}

interface CompiledPattern {
  readonly marker: string
  readonly test: RegExp
  readonly global: RegExp
  readonly accept: ((match: string) => boolean) | undefined
}

interface Whole {
  readonly marker: string
  readonly path: ReadonlyArray<string> | undefined
  readonly test: ((value: unknown, path: ReadonlyArray<Segment>) => boolean) | undefined
  /**
   * Under one root, the object keys (as canonical JSON `"key":`) a text must hold for the rule
   * to match in it; `undefined` when that cannot be told from the text (custom rules).
   */
  readonly keys?: ReadonlyArray<string> | undefined
}

/** The keys a path rule needs under `root`, see `Whole.keys`. */
const keysOf = (path: ReadonlyArray<string>, root: string): ReadonlyArray<string> | undefined => {
  const literal = path.slice(1).filter((segment) => segment !== "*" && segment !== "**" && !/^\d+$/.test(segment))
  // `**.input` matches the root `input` itself, which is no key of the text
  return path[0] === "**" && literal.includes(root) ? undefined : literal.map((key) => `${JSON.stringify(key)}:`)
}

/** Whether a pattern matches in a string the same as in the JSON text holding it (no anchors or lookaround). */
const scansText = (pattern: RegExp): boolean => !/[\^$]|\(\?[=!<]/.test(pattern.source)

/** Defines a property as data, so a key such as `__proto__` stays a key. */
const put = (out: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
}

/** The rules of a `Redaction` service, compiled for one run. */
export class Redactor {
  readonly onRedactedReplay: RedactedReplayPolicy
  /** Path and custom rules, in order: each replaces a whole value. */
  private readonly whole: Array<Whole> = []
  /** The rules of `whole` that can match under a root (`input`, `state`, ...). */
  private readonly wholeByRoot = new Map<string, ReadonlyArray<Whole>>()
  private readonly patterns: Array<CompiledPattern> = []
  private readonly tests: ReadonlyArray<RegExp>
  /** Every pattern can be tested on a whole JSON text: see `untouched`. */
  private readonly textScan: boolean

  constructor(service: RedactionService) {
    this.onRedactedReplay = service.onRedactedReplay
    for (const rule of service.rules) {
      const marker = markerOf(rule.name)
      if (rule._tag === "Pattern") {
        const flags = rule.pattern.flags.replace(/[gy]/g, "")
        this.patterns.push({
          marker,
          test: new RegExp(rule.pattern.source, flags),
          global: new RegExp(rule.pattern.source, flags + "g"),
          accept: rule.accept
        })
      } else if (rule._tag === "Path") {
        this.whole.push({ marker, path: parsePath(rule.path), test: undefined })
      } else {
        this.whole.push({ marker, path: undefined, test: rule.test })
      }
    }
    this.tests = anyOf(this.patterns.map((pattern) => pattern.test))
    this.textScan = this.patterns.every((pattern) => scansText(pattern.test))
  }

  private wholeUnder(root: string): ReadonlyArray<Whole> {
    let rules = this.wholeByRoot.get(root)
    if (rules === undefined) {
      rules = this.whole
        .filter((rule) => {
          const first = rule.path?.[0]
          return first === undefined || first === root || first === "*" || first === "**"
        })
        .map((rule) => ({ ...rule, keys: rule.path === undefined ? undefined : keysOf(rule.path, root) }))
      this.wholeByRoot.set(root, rules)
    }
    return rules
  }

  /** The text with every pattern match replaced by its marker. */
  private scrub(text: string): string {
    if (!this.tests.some((test) => test.test(text))) return text
    let out = text
    for (const pattern of this.patterns) {
      if (!pattern.test.test(out)) continue
      const accept = pattern.accept
      out = out.replace(
        pattern.global,
        (match) => accept === undefined || safely(accept, match) ? pattern.marker : match
      )
    }
    return out
  }

  /** The value with what the rules match replaced; the same value (by reference) when nothing matched. */
  value(value: unknown, root: string): unknown {
    return this.walk(value, [root], this.wholeUnder(root))
  }

  private walk(value: unknown, path: Array<Segment>, whole: ReadonlyArray<Whole>): unknown {
    for (const rule of whole) {
      if (rule.path !== undefined ? matches(rule.path, 0, path, 0) : safely(rule.test!, value, path)) return rule.marker
    }
    switch (typeof value) {
      case "string":
        return this.scrub(value)
      case "number": {
        const text = String(value)
        const scrubbed = this.scrub(text)
        return scrubbed === text ? value : scrubbed
      }
      case "object":
        if (value === null) return value
        return Array.isArray(value)
          ? this.walkArray(value, path, whole)
          : this.walkObject(value as Record<string, unknown>, path, whole)
      default:
        return value
    }
  }

  private walkArray(value: ReadonlyArray<unknown>, path: Array<Segment>, whole: ReadonlyArray<Whole>): unknown {
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      path.push(i)
      const item = this.walk(value[i], path, whole)
      path.pop()
      if (item !== value[i]) (out ??= value.slice())[i] = item
    }
    return out ?? value
  }

  private walkObject(value: Record<string, unknown>, path: Array<Segment>, whole: ReadonlyArray<Whole>): unknown {
    const keys = Object.keys(value)
    let changed = false
    const entries: Array<readonly [string, unknown]> = []
    for (const key of keys) {
      path.push(key)
      const item = this.walk(value[key], path, whole)
      path.pop()
      const name = this.scrub(key)
      if (item !== value[key] || name !== key) changed = true
      entries.push([name, item])
    }
    if (!changed) return value
    const out: Record<string, unknown> = {}
    for (const [key, item] of entries) {
      // two keys redacted to the same marker stay two keys
      let name = key
      for (let n = 2; Object.prototype.hasOwnProperty.call(out, name); n++) name = `${key}#${n}`
      put(out, name, item)
    }
    return out
  }

  /**
   * Whether canonical JSON text surely holds nothing the rules under `root` match, told from the
   * text without parsing it: with no escape in the text, every string, key and number appears in it
   * as it is, so a pattern that finds nothing in the whole text finds nothing in any of them, and a
   * path rule cannot match when a key it names is absent.
   */
  private untouched(text: string, root: string): boolean {
    if (!this.textScan || text.includes("\\")) return false
    for (const rule of this.wholeUnder(root)) {
      if (rule.keys === undefined || rule.keys.every((key) => text.includes(key))) return false
    }
    return !this.tests.some((test) => test.test(text))
  }

  /** Canonical JSON text redacted under `root`; the same text when nothing matched. */
  text(text: string, root: string): string {
    if (this.untouched(text, root)) return text
    const parsed: unknown = JSON.parse(text)
    const redacted = this.value(parsed, root)
    if (redacted === parsed) return text
    const out = canonicalJson(redacted, root)
    // a parsed JSON value with strings put in stays JSON: the fallback never keeps the original
    return typeof out === "string" ? out : JSON.stringify(redacted)
  }

  /** An error record: its message and its data (the error's own fields), under the root `error`. */
  private error(error: ErrorInfo | null): ErrorInfo | null {
    if (error === null) return null
    const whole = this.wholeUnder("error")
    const message = this.walk(error.message, ["error", "message"], whole)
    const data = error.data === undefined ? undefined : this.walk(error.data, ["error", "data"], whole)
    if (message === error.message && data === error.data) return error
    const redacted: ErrorInfo = { ...error, message: String(message) }
    if (data === undefined) return redacted
    // a rule may replace the whole of `data` with its marker: the marker is then kept as a field
    const fields = typeof data === "object" && data !== null ? data as NonNullable<ErrorInfo["data"]> : { redacted: data }
    return { ...redacted, data: fields }
  }

  step(record: StepRecord.Encoded): StepRecord.Encoded {
    return {
      ...record,
      input: this.text(record.input, "input"),
      output: record.output === null ? null : this.text(record.output, "output"),
      error: this.error(record.error)
    }
  }

  /** A run or an agent record: metadata, result and error. */
  owner<A extends Run.Encoded | Agent.Encoded>(record: A): A {
    return {
      ...record,
      metadata: this.value(record.metadata, "metadata") as A["metadata"],
      result: record.result === null ? null : this.text(record.result, "result"),
      error: this.error(record.error)
    }
  }

  checkpoint(record: Checkpoint.Encoded): Checkpoint.Encoded {
    return {
      ...record,
      runState: this.value(record.runState, "state") as Checkpoint.Encoded["runState"],
      agents: record.agents.map((agent) => ({
        ...agent,
        state: this.value(agent.state, "state") as Checkpoint.Encoded["runState"]
      })),
      extraState: this.value(record.extraState, "extraState")
    }
  }

  /** The backend with every record redacted before it is written; reads pass through. */
  client(client: MultiRunClientService): MultiRunClientService {
    return {
      ...client,
      writeRun: before(client.writeRun, (run) => this.owner(run)),
      writeAgent: before(client.writeAgent, (agent) => this.owner(agent)),
      writeStep: before(client.writeStep, (step) => this.step(step)),
      saveCheckpoint: before(client.saveCheckpoint, (checkpoint) => this.checkpoint(checkpoint))
    }
  }
}

/** A write whose record is redacted first; further arguments pass through as they are. */
const before = <A, Rest extends ReadonlyArray<unknown>, R>(
  write: (record: A, ...rest: Rest) => R,
  redact: (record: A) => A
) =>
(record: A, ...rest: Rest): R => write(redact(record), ...rest)
