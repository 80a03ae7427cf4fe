/** Sequence numbers gathered one at a time into half-open ranges, for the records of replay. */
export class SeqRangesBuilder {
  private ranges: Array<[number, number]> = []
  private inOrder = true

  /** Adds one sequence number; a run of consecutive ones stays one range. */
  add(seq: number): void {
    const last = this.ranges[this.ranges.length - 1]
    if (last !== undefined && seq === last[1]) {
      last[1]++
      return
    }
    if (last !== undefined && seq < last[1]) this.inOrder = false
    this.ranges.push([seq, seq + 1])
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0
  }

  /** The ranges so far, sorted and merged (a copy). */
  toRanges(): Array<readonly [number, number]> {
    if (!this.inOrder) {
      const sorted = this.ranges.sort((a, b) => a[0] - b[0])
      const merged: Array<[number, number]> = []
      for (const [from, to] of sorted) {
        const last = merged[merged.length - 1]
        if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to)
        else merged.push([from, to])
      }
      this.ranges = merged
      this.inOrder = true
    }
    return this.ranges.map(([from, to]) => [from, to] as const)
  }
}
