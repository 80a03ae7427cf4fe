/**
 * How a conformance test runs on the backend under test: with a fresh backend layer and a
 * fresh set of test services.
 */
import { Effect, type Layer, TestContext } from "effect"
import type { Checkpoints } from "../../src/Checkpoints.js"
import type { MultiRunClient } from "../../src/MultiRunClient.js"
import type { BackendLayer } from "./conformance.js"

/**
 * Runs `effect` on a new layer of the backend, under its own `TestClock`. Inside a `layer(...)`
 * block every test would otherwise share the block's one `TestClock`, and a sleep that was
 * interrupted (a request's timeout, a lease renewal stopped) stays on its list: each later move
 * of the clock walks every such sleep of every earlier test, with a real timer for each (15 s of
 * the remote suite's time, and a `setTime` in one test took 2.3 s).
 */
export const onBackend = <R>(makeLayer: BackendLayer<R>) =>
<A, E>(effect: Effect.Effect<A, E, MultiRunClient | Checkpoints>): Effect.Effect<A, E, R> =>
  effect.pipe(
    Effect.provide(makeLayer() as Layer.Layer<MultiRunClient | Checkpoints, never, R>),
    Effect.provide(TestContext.TestContext)
  )
