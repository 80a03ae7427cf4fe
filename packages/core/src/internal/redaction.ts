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
}

/** Defines a property as data, so a key such as `__proto__` stays a key. */
const put = (out: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
}

/** The rules of a `Redaction` service, compiled for one run. */
export class Redactor {
  readonly onRedactedReplay: RedactedReplayPolicy
  /** Path and custom rules, in order: each replaces a whole value. */
  private readonly whole: Array<Whole> = []
  private readonly patterns: Array<CompiledPattern> = []

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
  }

  /** The text with every pattern match replaced by its marker. */
  scrub(text: string): string {
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
    return this.walk(value, [root])
  }

  private walk(value: unknown, path: Array<Segment>): unknown {
    for (const rule of this.whole) {
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
        return Array.isArray(value) ? this.walkArray(value, path) : this.walkObject(value as Record<string, unknown>, path)
      default:
        return value
    }
  }

  private walkArray(value: ReadonlyArray<unknown>, path: Array<Segment>): unknown {
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      path.push(i)
      const item = this.walk(value[i], path)
      path.pop()
      if (item !== value[i]) (out ??= value.slice())[i] = item
    }
    return out ?? value
  }

  private walkObject(value: Record<string, unknown>, path: Array<Segment>): unknown {
    const keys = Object.keys(value)
    let changed = false
    const entries: Array<readonly [string, unknown]> = []
    for (const key of keys) {
      path.push(key)
      const item = this.walk(value[key], path)
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

  /** Canonical JSON text redacted under `root`; the same text when nothing matched. */
  text(text: string, root: string): string {
    const parsed: unknown = JSON.parse(text)
    const redacted = this.walk(parsed, [root])
    if (redacted === parsed) return text
    const out = canonicalJson(redacted, root)
    return typeof out === "string" ? out : text
  }

  private error(error: ErrorInfo | null): ErrorInfo | null {
    if (error === null) return null
    const message = this.walk(error.message, ["error", "message"])
    return message === error.message ? error : { tag: error.tag, message: String(message) }
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
      metadata: this.walk(record.metadata, ["metadata"]) as A["metadata"],
      result: record.result === null ? null : this.text(record.result, "result"),
      error: this.error(record.error)
    }
  }

  checkpoint(record: Checkpoint.Encoded): Checkpoint.Encoded {
    return {
      ...record,
      runState: this.walk(record.runState, ["state"]) as Checkpoint.Encoded["runState"],
      agents: record.agents.map((agent) => ({
        ...agent,
        state: this.walk(agent.state, ["state"]) as Checkpoint.Encoded["runState"]
      })),
      extraState: this.walk(record.extraState, ["extraState"])
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
