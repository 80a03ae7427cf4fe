import { sha256 } from "./canonical.js"
import { holdsMarker } from "./redaction.js"

/** One completed step that replay may return. */
export interface Recorded {
  readonly agentName: string
  readonly name: string
  readonly hash: string
  readonly input: string
  readonly output: string | null
  /** The stored output holds a redaction marker: replay cannot return the original. */
  readonly outputRedacted: boolean
  consumed: boolean
}

interface Queue {
  readonly entries: Array<Recorded>
  head: number
}

/** The recorded calls of one step name of one agent. */
interface StepEntries {
  /** Every call in recording order: the drift candidates. */
  readonly all: Queue
  /** The calls by canonical input text, or by `#` and input hash when the stored input was redacted. */
  readonly byInput: Map<string, Queue>
  /** How many calls are keyed by hash. */
  hashed: number
}

const next = (queue: Queue | undefined): Recorded | undefined => {
  if (queue === undefined) return undefined
  while (queue.head < queue.entries.length && queue.entries[queue.head]!.consumed) queue.head++
  return queue.entries[queue.head]
}

/**
 * The replay cache: recorded results keyed by (agent name, step name, input), each key a
 * queue in recording order, so the n-th call with the same key gets the n-th result
 * (the occurrence). The key holds the canonical input text itself, which identifies the same
 * calls as its SHA-256 does, so a replayed call needs no hashing. Lookups and consumption are
 * O(1) amortized. A call whose stored input was redacted is keyed by its hash, taken from the
 * original input: a lookup hashes the input only when the text finds nothing and such calls exist.
 */
export class ReplayCache {
  private readonly agents = new Map<string, Map<string, StepEntries>>()
  remaining = 0

  constructor(recorded: Iterable<Recorded>) {
    for (const entry of recorded) {
      let steps = this.agents.get(entry.agentName)
      if (steps === undefined) this.agents.set(entry.agentName, steps = new Map())
      let entries = steps.get(entry.name)
      if (entries === undefined) {
        steps.set(entry.name, entries = { all: { entries: [], head: 0 }, byInput: new Map(), hashed: 0 })
      }
      entries.all.entries.push(entry)
      const redacted = holdsMarker(entry.input)
      if (redacted) entries.hashed++
      const key = redacted ? `#${entry.hash}` : entry.input
      const queue = entries.byInput.get(key)
      if (queue === undefined) entries.byInput.set(key, { entries: [entry], head: 0 })
      else queue.entries.push(entry)
      this.remaining++
    }
  }

  /** The next unconsumed result for this exact call (canonical input text), without consuming it. */
  peek(agentName: string, name: string, input: string): Recorded | undefined {
    const entries = this.agents.get(agentName)?.get(name)
    if (entries === undefined) return undefined
    const hit = next(entries.byInput.get(input))
    return hit !== undefined || entries.hashed === 0 ? hit : next(entries.byInput.get(`#${sha256(input)}`))
  }

  /** The next unconsumed result of this step name whatever its input: the drift candidate. */
  peekByName(agentName: string, name: string): Recorded | undefined {
    return next(this.agents.get(agentName)?.get(name)?.all)
  }

  consume(entry: Recorded): void {
    entry.consumed = true
    this.remaining--
  }
}
