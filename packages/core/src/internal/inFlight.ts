import type { StepState } from "./stepState.js"

/**
 * The executed steps of a run that have not ended, in the order they began, which is the order
 * of their sequence numbers: a list threaded through the steps themselves, so a step enters and
 * leaves it with a few field writes and no hashing.
 */
export class InFlight {
  private head: StepState | undefined = undefined
  private tail: StepState | undefined = undefined

  add(step: StepState): void {
    step.previousInFlight = this.tail
    if (this.tail === undefined) this.head = step
    else this.tail.nextInFlight = step
    this.tail = step
  }

  /** Unlinks a step that {@link add} linked (each step leaves once: it is written once). */
  remove(step: StepState): void {
    const { nextInFlight: next, previousInFlight: previous } = step
    if (previous === undefined) this.head = next
    else previous.nextInFlight = next
    if (next === undefined) this.tail = previous
    else next.previousInFlight = previous
    step.previousInFlight = step.nextInFlight = undefined
  }

  /** The steps, by sequence number. */
  list(): Array<StepState> {
    const steps: Array<StepState> = []
    for (let step = this.head; step !== undefined; step = step.nextInFlight) steps.push(step)
    return steps
  }
}
