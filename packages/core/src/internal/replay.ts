/** One completed step that replay may return. */
export interface Recorded {
  readonly agentName: string
  readonly name: string
  readonly hash: string
  readonly input: string
  readonly output: string | null
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
  /** The calls by canonical input text. */
  readonly byInput: Map<string, Queue>
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
 * O(1) amortized.
 */
export class ReplayCache {
  private readonly agents = new Map<string, Map<string, StepEntries>>()
  remaining = 0

  constructor(recorded: Iterable<Recorded>) {
    for (const entry of recorded) {
      let steps = this.agents.get(entry.agentName)
      if (steps === undefined) this.agents.set(entry.agentName, steps = new Map())
      let entries = steps.get(entry.name)
      if (entries === undefined) steps.set(entry.name, entries = { all: { entries: [], head: 0 }, byInput: new Map() })
      entries.all.entries.push(entry)
      const queue = entries.byInput.get(entry.input)
      if (queue === undefined) entries.byInput.set(entry.input, { entries: [entry], head: 0 })
      else queue.entries.push(entry)
      this.remaining++
    }
  }

  /** The next unconsumed result for this exact call (canonical input text), without consuming it. */
  peek(agentName: string, name: string, input: string): Recorded | undefined {
    return next(this.agents.get(agentName)?.get(name)?.byInput.get(input))
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
