/**
 * A first attempt that ends unfinished: a completed run cannot be resumed (it is forked), so a
 * test that resumes a run stops its first attempt with a failure carrying the program's value.
 *
 * @since 0.3.0
 */
import { Effect } from "effect"

/**
 * The failure that ends a first attempt, holding what its program returned.
 *
 * @since 0.3.0
 */
export class Stopped<A> {
  readonly _tag = "Stopped"
  readonly message = "the test stopped its first attempt here, to resume it"
  constructor(readonly value: A) {}
}

/**
 * Fails with the program's value instead of returning it: put it inside `withRun` so the run ends
 * `failed`, resumable.
 *
 * @since 0.3.0
 */
export const stopAfter = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<never, E | Stopped<A>, R> =>
  Effect.flatMap(self, (value) => Effect.fail(new Stopped(value)))

/**
 * The value a stopped attempt carried: put it outside `withRun`.
 *
 * @since 0.3.0
 */
export const stoppedValue = <A, E, R>(self: Effect.Effect<never, E | Stopped<A>, R>): Effect.Effect<A, Exclude<E, Stopped<A>>, R> =>
  Effect.catchIf(self, (error): error is Stopped<A> => error instanceof Stopped, (stopped) => Effect.succeed(stopped.value)) as Effect.Effect<
    A,
    Exclude<E, Stopped<A>>,
    R
  >
