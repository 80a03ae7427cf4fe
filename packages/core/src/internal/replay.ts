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
  private readonly byKey = new Map<string, Queue>()
  private readonly byName = new Map<string, Queue>()
  remaining = 0

  constructor(recorded: Iterable<Recorded>) {
    for (const entry of recorded) {
      this.push(this.byKey, `${entry.agentName}\u0000${entry.name}\u0000${entry.input}`, entry)
      this.push(this.byName, `${entry.agentName}\u0000${entry.name}`, entry)
      this.remaining++
    }
  }

  private push(map: Map<string, Queue>, key: string, entry: Recorded) {
    const queue = map.get(key)
    if (queue === undefined) map.set(key, { entries: [entry], head: 0 })
    else queue.entries.push(entry)
  }

  /** The next unconsumed result for this exact call (canonical input text), without consuming it. */
  peek(agentName: string, name: string, input: string): Recorded | undefined {
    return next(this.byKey.get(`${agentName}\u0000${name}\u0000${input}`))
  }

  /** The next unconsumed result of this step name whatever its input: the drift candidate. */
  peekByName(agentName: string, name: string): Recorded | undefined {
    return next(this.byName.get(`${agentName}\u0000${name}`))
  }

  consume(entry: Recorded): void {
    entry.consumed = true
    this.remaining--
  }
}
