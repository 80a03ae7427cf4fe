/**
 * The server's retention: a policy (`Retention.Policy` from `@multirun/sql`, one for every
 * project or one per project) applied to the database at start and then on a schedule, each
 * pass logged per project. A failed pass is logged and the next one runs on time.
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Retention } from "@multirun/sql"
import { Duration, Effect, Layer, Schedule } from "effect"

/**
 * What the server keeps: `policy` for every project, or a function giving each project's policy
 * (`undefined` leaves a project alone), applied every `every` (default 60 minutes).
 *
 * @since 0.2.0
 */
export interface Options {
  readonly policy: Retention.Policy | ((project: string) => Retention.Policy | undefined)
  readonly every?: Duration.DurationInput | undefined
}

/**
 * One pass: applies the policy to every project, gives the space back (SQLite), logs and returns
 * what was removed from each project.
 *
 * @since 0.2.0
 */
export const runOnce = (options: Options): Effect.Effect<ReadonlyArray<Retention.Removed>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const reports = yield* Retention.apply(options.policy)
    yield* Retention.reclaimSpace
    for (const report of reports) {
      const runs = Object.values(report.runs).reduce((a, b) => a + b, 0)
      if (runs + report.checkpoints === 0) continue
      yield* Effect.logInfo(
        `retention: project ${report.project}: removed ${runs} run(s), ${report.agents} agent(s), ` +
          `${report.steps} step(s), ${report.checkpoints} checkpoint(s), ${report.bytes} bytes`
      )
    }
    return reports
  })

/**
 * Runs {@link runOnce} at start and then every `options.every`, in the layer's scope.
 *
 * @since 0.2.0
 */
export const layer = (options: Options): Layer.Layer<never, never, SqlClient.SqlClient> =>
  Layer.scopedDiscard(Effect.forkScoped(
    runOnce(options).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("retention: the pass failed; the next one runs on schedule", cause)),
      Effect.repeat(Schedule.spaced(options.every ?? Duration.minutes(60)))
    )
  ))
