/**
 * Waiting for a condition instead of sleeping a guessed time.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Effect, Schedule } from "effect"
import type { Duration } from "effect"

/**
 * Polls `check` until it gives `true`: every `every` (default 10 ms), dying with a message naming
 * `what` when that has not happened `within` (default 10 s). It runs on the real clock, also inside
 * `it.effect`, because what it waits for happens outside the fiber (a socket, a child process).
 *
 * @since 0.1.0
 */
export const eventually = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  options: { readonly within?: Duration.DurationInput; readonly every?: Duration.DurationInput } = {}
): Effect.Effect<void, E, R> =>
  Effect.repeat(check, { until: (ok) => ok, schedule: Schedule.spaced(options.every ?? "10 millis") }).pipe(
    Effect.asVoid,
    Effect.timeoutFailCause({
      duration: options.within ?? "10 seconds",
      onTimeout: () => Cause.die(new Error(`not within ${String(options.within ?? "10 seconds")}: ${what}`))
    }),
    Effect.withClock(Clock.make())
  )
