import type { Effect } from "effect"
import type { BackendError } from "../Errors.js"
import { sha256 } from "./canonical.js"

/**
 * One place among the calls of a key (agent name, step name, input) in a recorded timeline: a
 * completed, covered record that replay may return, or the place of a call it may not (a call
 * that failed, was interrupted, or was in flight when the checkpoint was taken), which a call
 * at that place executes again.
 */
export interface Slot {
  /** The recorded step's id and run (a fork replays the records of the run it came from). */
  readonly id: string
  readonly runId: string
  readonly hash: string
  /** The recorded canonical input text (its redaction, when the input was redacted). */
  readonly input: string
  readonly output: string | null
  /** The stored output holds a redaction marker: replay cannot return the original. */
  readonly outputRedacted: boolean
  readonly replayable: boolean
  /** The sequence number of the recorded call, which orders the drift candidates. */
  readonly seq: number
  consumed: boolean
}

/**
 * A recorded timeline: per agent name and step name, the places of each key in call order. A key
 * is the canonical input text, or `#` and the input hash when the text is not known (a redacted
 * input, a call in flight at the checkpoint). Canonical JSON never starts with `#`.
 */
export type Timeline = Map<string, Map<string, Map<string, KeyCalls>>>

/** The places of one key, and how many calls of it this replay has made. */
export interface KeyCalls {
  slots: Array<Slot>
  calls: number
}

/** A call of a step name that executed while that name still had records to replay. */
export interface Suspect {
  readonly input: string
  /** Marks the call's step as drifted, with the path of the first difference. */
  readonly mark: (path: string) => Effect.Effect<void, BackendError>
}

/** The replay state of one step name of one agent. */
export interface NameCalls {
  readonly agentName: string
  readonly name: string
  readonly keys: Map<string, KeyCalls>
  /** Whether some keys are hashes (`#…`), so a call's text that finds nothing is hashed too. */
  readonly hashed: boolean
  /** The replayable records, in recorded order: the drift candidates. */
  readonly candidates: Array<Slot>
  head: number
  unconsumed: number
  readonly suspects: Array<Suspect>
}

/** Where a call stands: its key's calls and the place it takes, if it is called now. */
export interface Place {
  readonly names: NameCalls | undefined
  readonly key: string
  readonly calls: KeyCalls | undefined
  readonly slot: Slot | undefined
}

/** A recorded call that no call matched, and the call that took its place with another input. */
export interface Drifted {
  readonly agentName: string
  readonly name: string
  readonly recorded: Slot
  readonly suspect: Suspect
}

/** The places of a key in a timeline, made empty when it has none yet. */
export const keyCallsOf = (timeline: Timeline, agentName: string, name: string, key: string): KeyCalls => {
  let steps = timeline.get(agentName)
  if (steps === undefined) timeline.set(agentName, steps = new Map())
  let keys = steps.get(name)
  if (keys === undefined) steps.set(name, keys = new Map())
  let calls = keys.get(key)
  if (calls === undefined) keys.set(key, calls = { slots: [], calls: 0 })
  return calls
}

/** Puts a place as the `occurrence`-th call of its key (or after the last one). */
export const placeAt = (calls: KeyCalls, occurrence: number, slot: Slot): void => {
  if (occurrence < calls.slots.length) calls.slots[occurrence] = slot
  else calls.slots.push(slot)
}

/** Whether places are in recorded order already (a timeline of one key each mostly is). */
const inOrder = (slots: ReadonlyArray<Slot>): boolean => {
  for (let i = 1; i < slots.length; i++) if (slots[i]!.seq < slots[i - 1]!.seq) return false
  return true
}

/**
 * The replay cache: a call of key K is the n-th call of K since the restore, and gets the n-th
 * place of K in the recorded timeline: its record when that place holds a replayable one, an
 * execution otherwise (a place whose call failed keeps its place, so a fallback after a failed
 * call is matched with its own record). A call is never given another input's record: a call
 * with no place while its step name still has records to replay executes, and is reported as
 * drift only when those records are left unmatched ({@link unmatched}). Keys hold the canonical
 * input text, so a replayed call needs no hashing. The cache lives for the whole attempt: once
 * every record was replayed it only counts calls, so each executed call records its occurrence.
 */
export class ReplayCache {
  private readonly agents = new Map<string, Map<string, NameCalls>>()
  remaining = 0

  /** A cache over `timeline`, which it takes over (its counters count this replay's calls). */
  constructor(timeline: Timeline) {
    for (const [agentName, steps] of timeline) {
      const byName = new Map<string, NameCalls>()
      this.agents.set(agentName, byName)
      for (const [name, keys] of steps) {
        const candidates: Array<Slot> = []
        let hashed = false
        for (const [key, calls] of keys) {
          if (key.charCodeAt(0) === 35) hashed = true // "#"
          for (const slot of calls.slots) if (slot.replayable && !slot.consumed) candidates.push(slot)
        }
        if (!inOrder(candidates)) candidates.sort((a, b) => a.seq - b.seq)
        byName.set(name, {
          agentName,
          name,
          keys,
          hashed,
          candidates,
          head: 0,
          unconsumed: candidates.length,
          suspects: []
        })
        this.remaining += candidates.length
      }
    }
  }

  /** Where a call with this canonical input text stands, without counting it. */
  place(agentName: string, name: string, input: string): Place {
    const names = this.agents.get(agentName)?.get(name)
    if (names === undefined) return { names, key: input, calls: undefined, slot: undefined }
    let key = input
    let calls = names.keys.get(input)
    if (calls === undefined && names.hashed) {
      const hashKey = `#${sha256(input)}`
      const byHash = names.keys.get(hashKey)
      if (byHash !== undefined) {
        key = hashKey
        calls = byHash
      }
    }
    return { names, key, calls, slot: calls?.slots[calls.calls] }
  }

  /**
   * Lets go of the records once every one was replayed: the cache goes on counting the calls of
   * each key, so a call executed later in the attempt records its occurrence among them.
   */
  release(): void {
    for (const byName of this.agents.values()) {
      for (const names of byName.values()) {
        names.candidates.length = 0
        names.head = 0
        for (const calls of names.keys.values()) calls.slots = []
      }
    }
  }

  /** Counts a call at its place (it takes the next occurrence of its key). */
  take(at: Place): void {
    if (at.calls !== undefined) at.calls.calls++
    else if (at.names !== undefined) at.names.keys.set(at.key, { slots: [], calls: 1 })
  }

  /** Marks a record as used; `remaining` counts the records not used yet. */
  consume(at: Place, slot: Slot): void {
    this.use(at.names!, slot)
  }

  private use(names: NameCalls, slot: Slot): void {
    slot.consumed = true
    this.remaining--
    names.unconsumed--
  }

  /** The earliest record of this step name not replayed yet, if any. */
  firstUnconsumed(names: NameCalls): Slot | undefined {
    while (names.head < names.candidates.length && names.candidates[names.head]!.consumed) names.head++
    return names.candidates[names.head]
  }

  /** The record of this exact call at its next place, if replay holds one (not counted). */
  peek(agentName: string, name: string, input: string): Slot | undefined {
    const { slot } = this.place(agentName, name, input)
    return slot !== undefined && slot.replayable && !slot.consumed ? slot : undefined
  }

  /**
   * Decides drift: the records no call matched, paired in recorded order with the calls of the
   * same step name that executed with an input never recorded there. Each pair is used up; calls
   * that found no record to pair with were new calls, not drift.
   */
  unmatched(): Array<Drifted> {
    const drifted: Array<Drifted> = []
    for (const byName of this.agents.values()) {
      for (const names of byName.values()) {
        let next = 0
        while (next < names.suspects.length) {
          const recorded = this.firstUnconsumed(names)
          if (recorded === undefined) break
          this.use(names, recorded)
          drifted.push({ agentName: names.agentName, name: names.name, recorded, suspect: names.suspects[next++]! })
        }
        names.suspects.length = 0
      }
    }
    return drifted
  }
}
