/**
 * What the server refused of a remote backend's writes: records set aside in the outbox and
 * reported once by the next flush, steps a checkpoint must never cover, writes fenced out.
 */
import { Effect } from "effect"
import type * as Api from "../Api.js"
import * as Checkpoint from "../Checkpoint.js"
import { BackendError } from "../Errors.js"
import * as Event from "../Event.js"
import * as Lease from "../Lease.js"
import type { OutboxService, SetAside, Stranded } from "../Outbox.js"
import { describeRefused } from "./remote.js"

/** The refusals of one remote backend, and the server's answers it has taken. */
export class Refusals {
  /** Events the server refused (a record it does not accept); the next flush reports them once. */
  private refused: Array<string> = []
  /** Events refused because their writer no longer owns the run; the next flush reports them once. */
  private fenced: Array<{ readonly runId: string; readonly epoch: number | undefined }> = []
  /** Steps of this program the server refused, by run: a checkpoint must never cover one. */
  private readonly refusedSteps = new Map<string, Array<{ readonly seq: number; readonly refusal: string }>>()
  /** Ids of the records an earlier process left: a refusal of one is logged, not this program's failure. */
  readonly inherited = new Set<string>()
  /** Events the server has answered for: a batch written again after a failure skips them. */
  readonly answered = new WeakSet<Event.Event>()
  private readonly inspect: string

  constructor(
    private readonly outbox: OutboxService,
    private readonly location: string,
    private readonly stranded: Stranded | undefined
  ) {
    this.inspect = stranded === undefined ? "" : `; see them with \`multirun outbox list --file ${stranded.location}\``
  }

  /**
   * Fails with `BackendError("Rejected")` if the checkpoint would cover a step the server refused:
   * resuming from it would miss that step. The refusal stays visible for every later checkpoint.
   */
  uncovered(checkpoint: Checkpoint.Encoded): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      const missing = (this.refusedSteps.get(checkpoint.runId) ?? []).filter(({ seq }) =>
        Checkpoint.covers(checkpoint.covered, seq)
      )
      return missing.length === 0 ? Effect.void : Effect.fail(
        new BackendError({
          operation: "saveCheckpoint",
          reason: "Rejected",
          location: this.location,
          detail: `the checkpoint would cover ${missing.length} step(s) the server refused, so a resume from it ` +
            `would miss them: ${missing.slice(0, 3).map(({ refusal }) => refusal).join("; ")}; ` +
            "they are set aside in the outbox (`multirun outbox list`)"
        })
      )
    })
  }

  /**
   * Takes the server's answer for `events`: a record it refused is set aside in the outbox (kept,
   * logged once, reported by the next flush unless an earlier process wrote it); the others are
   * forgotten.
   */
  settle(
    events: ReadonlyArray<Event.Event>,
    rejected: ReadonlyArray<Pick<Api.RejectedEvent, "index" | "code" | "reason">>
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      const aside: Array<SetAside> = []
      const described: Array<string> = []
      let earlier = 0
      for (const { code, index, reason } of rejected) {
        const event = events[index]
        if (event === undefined) continue
        if (code === "Fenced" && !this.inherited.has(event.eventId)) {
          this.fenced.push({ runId: Event.runIdOf(event), epoch: event.epoch })
          continue
        }
        const refusal = describeRefused(event, reason)
        aside.push({ eventId: event.eventId, reason: refusal })
        described.push(refusal)
        if (this.inherited.has(event.eventId)) earlier++
        else {
          this.refused.push(refusal)
          if (event._tag === "StepWritten") {
            const runId = event.step.runId
            this.refusedSteps.set(runId, [...(this.refusedSteps.get(runId) ?? []), { seq: event.step.seq, refusal }])
          }
        }
      }
      for (const event of events) this.answered.add(event)
      const kept = new Set(aside.map((record) => record.eventId))
      const done = events.filter((event) => !kept.has(event.eventId)).map((event) => event.eventId)
      // the server has answered for every record: a failure to forget them only sends them again
      return Effect.all([
        aside.length === 0 ? Effect.void : Effect.logWarning(
          `multirun: the server refused ${aside.length} record(s)` +
            `${earlier === 0 ? "" : ` (${earlier} of them left by an earlier process)`}` +
            `${this.stranded === undefined ? "" : `, set aside in the outbox${this.inspect}, then \`retry\` or \`drop\` them`}: ` +
            described.slice(0, 3).join("; ")
        ),
        aside.length === 0 ? Effect.void : this.outbox.setAside(aside),
        this.outbox.acknowledge(done)
      ], { discard: true }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`multirun: ${error.message}; they will be sent again`))
      )
    })
  }

  /** Fails once with what was fenced out, or refused, since the last report. */
  get report(): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      if (this.fenced.length > 0) {
        const records = this.fenced
        this.fenced = []
        return Effect.fail(Lease.fencedWrites("ingest", records, this.location))
      }
      if (this.refused.length === 0) return Effect.void
      const reported = this.refused
      this.refused = []
      return Effect.fail(
        new BackendError({
          operation: "ingest",
          reason: "Rejected",
          location: this.location,
          detail: `the server refused ${reported.length} record(s), the others were stored: ${reported.slice(0, 3).join("; ")}`
        })
      )
    })
  }
}
