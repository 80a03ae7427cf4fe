import { Effect, Exit } from "effect"

/**
 * Acquires a resource, uses it, and then records the use's `Exit` with `finish`, which, unlike
 * an `acquireUseRelease` finalizer, may fail: a run whose end could not be stored must say so.
 * `finish` runs whatever the outcome, interruption included.
 */
export const bracketExit = <X, E1, R1, A, E2, R2, E3, R3>(
  acquire: Effect.Effect<X, E1, R1>,
  use: (resource: X) => Effect.Effect<A, E2, R2>,
  finish: (resource: X, exit: Exit.Exit<A, E2>) => Effect.Effect<void, E3, R3>
): Effect.Effect<A, E1 | E2 | E3, R1 | R2 | R3> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(acquire, (resource) =>
      Effect.flatMap(Effect.exit(restore(use(resource))), (exit) =>
        Effect.zipRight(finish(resource, exit), exit)))
  )
