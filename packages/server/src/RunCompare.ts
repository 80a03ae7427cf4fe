/**
 * Two runs compared (`RunDiff` of core) from the reads of a source: the server's
 * `GET /api/runs/:a/diff/:b` (steps read in pages) and `multirun runs diff A B`. When one run is
 * a fork of the other, the checkpoint it was forked from says which of the parent's steps it
 * inherits.
 *
 * @since 0.3.0
 */
import type * as Checkpoint from "@multirun/core/Checkpoint"
import type * as Run from "@multirun/core/Run"
import * as RunDiff from "@multirun/core/RunDiff"
import { Effect, Option } from "effect"

/**
 * What a compare reads of a source: a run, its agents, its steps (the fields the alignment
 * needs; a server reads them in pages), a checkpoint. A `MultiRunClient` offers these reads.
 *
 * @since 0.3.0
 */
export interface Reads<E> {
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<Run.Encoded>, E>
  readonly listAgents: (runId: string) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly name: string }>, E>
  readonly listSteps: (runId: string) => Effect.Effect<ReadonlyArray<RunDiff.StepInput>, E>
  readonly getCheckpoint: (checkpointId: string) => Effect.Effect<Option.Option<Checkpoint.Encoded>, E>
}

/** The run, or the caller's not-found error. */
const runOf = <E, N>(reads: Reads<E>, runId: string, notFound: (runId: string) => N) =>
  Effect.flatMap(
    reads.getRun(runId),
    Option.match({ onNone: () => Effect.fail(notFound(runId)), onSome: (run) => Effect.succeed(run) })
  )

/** A run's side of a compare; `other` is the other run, whose steps a fork may inherit. */
const sideOf = <E>(reads: Reads<E>, run: Run.Encoded, other: Run.Encoded) =>
  Effect.gen(function*() {
    const [agents, steps] = yield* Effect.all([reads.listAgents(run.id), reads.listSteps(run.id)])
    const checkpoint = run.parentRunId === other.id && run.forkedFrom != null
      ? yield* reads.getCheckpoint(run.forkedFrom)
      : Option.none()
    return {
      run: { id: run.id, name: run.name, status: run.status, tags: run.tags, parentRunId: run.parentRunId ?? null },
      agents,
      steps,
      inherits: Option.getOrUndefined(Option.map(checkpoint, (c) => ({ runId: c.runId, covered: c.covered })))
    } satisfies RunDiff.Side
  })

/**
 * Compares runs `a` and `b` (B − A), failing with `notFound(id)` when either is not in the
 * source.
 *
 * @since 0.3.0
 */
export const compare = <E, N>(
  reads: Reads<E>,
  a: string,
  b: string,
  notFound: (runId: string) => N
): Effect.Effect<RunDiff.RunDiff, E | N> =>
  Effect.gen(function*() {
    const runA = yield* runOf(reads, a, notFound)
    const runB = yield* runOf(reads, b, notFound)
    const [sideA, sideB] = yield* Effect.all([sideOf(reads, runA, runB), sideOf(reads, runB, runA)])
    return RunDiff.make(sideA, sideB)
  })
