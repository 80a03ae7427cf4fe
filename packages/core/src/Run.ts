/**
 * The Run record: one execution of a multi-agent program.
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"
import { CheckpointId, RunId } from "./Ids.js"
import * as Lease from "./Lease.js"
import { ErrorInfo, JsonText, Metadata, SeqRanges, Status, Timestamp, Totals } from "./Model.js"

/**
 * What a reader is told of a run that is `running` but whose owner is gone: the process that
 * held its lease stopped renewing it (it died, or was stopped) and the lease expired while the
 * run had not ended. `owner` is the owner token of that lease (`pid 4242 on host (…)`);
 * `lastSeenAt` is when the owner was last seen: its last renewal of the lease (for a lease it
 * gave up without ending the run, when it took the lease).
 *
 * A backend derives it when the run is read, from the run's stored status and its lease, on its
 * own clock (the database's, the server's, `Clock` for memory); it is never stored. A run with
 * no lease at all (written before 0.2) cannot be judged and reads as running. Resuming the run
 * (`withRun({ name, resume: { runId, latest: true } })`) makes it live again.
 *
 * @since 0.3.0
 */
export const Stalled = Schema.Struct({
  owner: Schema.String,
  lastSeenAt: Timestamp
})

/** @since 0.3.0 */
export type Stalled = typeof Stalled.Type

/**
 * One time a run continued from a checkpoint (a resume in a new process, a restore, or the start
 * of a fork), and what it replayed: the recorded steps of this run it returned instead of
 * executing (`steps`, by `seq`), and how many records of the run it was forked from
 * (`inherited`). Replayed calls write no step records, so a resume that replays k steps adds
 * one entry here, not k rows.
 *
 * @since 0.3.0
 */
export const Replay = Schema.Struct({
  checkpointId: CheckpointId,
  startedAt: Timestamp,
  steps: SeqRanges,
  inherited: Schema.Int
})

/** @since 0.3.0 */
export type Replay = typeof Replay.Type

/**
 * How many recorded steps a run's continuations replayed, over all of them.
 *
 * @since 0.3.0
 */
export const replayedCount = (replays: ReadonlyArray<{ readonly steps: SeqRanges; readonly inherited: number }>): number => {
  let count = 0
  for (const replay of replays) {
    count += replay.inherited
    for (const [from, to] of replay.steps) count += to - from
  }
  return count
}

/**
 * A run with its outcome and the totals of its executed steps. A run made with `forkFrom` points
 * at its parent run and the checkpoint it started from, and counts what it inherits apart.
 *
 * @since 0.1.0
 */
export class Run extends Schema.Class<Run>("@multirun/core/Run")({
  id: RunId,
  name: Schema.String,
  status: Status,
  metadata: Metadata,
  tags: Schema.Array(Schema.String),
  parentRunId: Schema.NullOr(RunId),
  forkedFrom: Schema.NullOr(CheckpointId),
  startedAt: Timestamp,
  endedAt: Schema.NullOr(Timestamp),
  result: Schema.NullOr(JsonText),
  error: Schema.NullOr(ErrorInfo),
  /** How many calls replay found with a changed input (drift); their steps carry the path. */
  drifts: Schema.optionalWith(Schema.Int, { default: () => 0 }),
  /** Each continuation from a checkpoint and what it replayed, oldest first (see {@link Replay}). */
  replays: Schema.optionalWith(Schema.Array(Replay), { default: () => [] }),
  ...Totals.fields,
  /**
   * What a fork inherits, counted apart from its own totals: the totals of its parent run at the
   * checkpoint it was forked from (the steps it replays for free), plus what the parent itself
   * inherited when it is a fork too. `null` for a run that is not a fork; records written before
   * 0.3 have none and read as `null`.
   *
   * @since 0.3.0
   */
  inherited: Schema.optionalWith(Schema.NullOr(Totals), { default: () => null }),
  /**
   * Set when the run is stalled (see {@link Stalled}), `null` otherwise. On the wire the field
   * is present only when set, so records written before 0.3 decode as they are.
   */
  stalled: Schema.optionalToRequired(Stalled, Schema.NullOr(Schema.typeSchema(Stalled)), {
    decode: Option.getOrNull,
    encode: Option.fromNullable
  }).pipe(Schema.withConstructorDefault(() => null))
}) {}

/**
 * A run as stored and sent over the wire.
 *
 * @since 0.1.0
 */
export type Encoded = typeof Run.Encoded

/**
 * The statuses a reader filters runs by: a stored {@link Status}, where `running` means running
 * with a live owner, or `stalled` (a `running` run whose owner is gone, see {@link Stalled}).
 *
 * @since 0.3.0
 */
export const FilterStatus = Schema.Literal(...Status.literals, "stalled")

/** @since 0.3.0 */
export type FilterStatus = typeof FilterStatus.Type

/**
 * Which runs `listRuns` returns. Every field narrows the list; `limit` defaults to 100.
 * `status: "running"` leaves stalled runs out; `status: "stalled"` lists only them.
 *
 * @since 0.1.0
 */
export const RunFilter = Schema.Struct({
  status: Schema.optional(FilterStatus),
  name: Schema.optional(Schema.String),
  tag: Schema.optional(Schema.String),
  parentRunId: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 10_000)))
})

/** @since 0.1.0 */
export type RunFilter = typeof RunFilter.Type

/**
 * A run record as a backend stores it: without `stalled`, which is derived when the run is read
 * (a record read, then written back, must not store its reader's view), and with its end no
 * earlier than its start: a run resumed on a machine whose clock is behind the one that started
 * it would otherwise be stored with a negative duration.
 *
 * @since 0.3.0
 */
export const stored = (run: Encoded): Encoded => {
  const { stalled: _, ...record } = run
  return record.endedAt !== null && record.endedAt < record.startedAt ? { ...record, endedAt: record.startedAt } : record
}

/**
 * A stored run record as a reader sees it at `now` (on the backend's clock), given its lease:
 * with `stalled` when it is `running` and its lease expired, without it otherwise.
 *
 * @since 0.3.0
 */
export const withStalled = (run: Encoded, lease: Lease.Encoded | undefined, now: number): Encoded =>
  run.status === "running" && lease !== undefined && !Lease.isLive(lease, now)
    ? { ...run, stalled: { owner: lease.owner, lastSeenAt: Lease.lastSeenAt(lease) } }
    : stored(run)
