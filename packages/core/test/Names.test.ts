/**
 * The 0.3 names (`Memory.layer`, `Remote.layer`, `Remote.layerConfig`) from the package root,
 * and a program written against 0.2's names (`LocalLayer`, `RemoteLayer`,
 * `RemoteLayer.layerWithoutHttpClient`), which still compiles: the deprecated aliases are the
 * same layers. The type checks are made by `tsc -b`, which type-checks this file.
 */
import type { HttpClient } from "@effect/platform"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Config, Effect, Layer } from "effect"
import type { ConfigError } from "effect"
import { LocalLayer, Memory, Outbox, Remote, RemoteLayer, withRun } from "../src/index.js"
import type { BackendError } from "../src/Errors.js"
import type { Checkpoints } from "../src/Checkpoints.js"
import type { MultiRunClient } from "../src/MultiRunClient.js"
import * as RemoteLayerModule from "../src/RemoteLayer.js"
import { recordAndRead } from "./utils/index.js"

describe("0.3 names", () => {
  it.effect("Memory.layer records a run and reads it back", () =>
    Effect.gen(function*() {
      const recorded = yield* recordAndRead("names-memory").pipe(Effect.provide(Memory.layer))
      assert.deepStrictEqual(recorded, {
        runs: [{ name: "names-memory", status: "completed" }],
        steps: ["plan", "answer"]
      })
    }))

  it("Remote.layer and Remote.layerConfig take the HttpClient and the Outbox from the context", () => {
    const options = { url: "http://localhost:7420", apiKey: "key" }
    expectTypeOf(Remote.layer(options)).toEqualTypeOf<
      Layer.Layer<MultiRunClient | Checkpoints, BackendError, HttpClient.HttpClient | Outbox.Outbox>
    >()
    const configured = Remote.layerConfig({ url: Config.string("MULTIRUN_URL"), apiKey: Config.redacted("MULTIRUN_API_KEY") })
    expectTypeOf(configured).toEqualTypeOf<
      Layer.Layer<
        MultiRunClient | Checkpoints,
        BackendError | ConfigError.ConfigError,
        HttpClient.HttpClient | Outbox.Outbox
      >
    >()
  })
})

describe("0.2 names (deprecated aliases, kept through 0.3)", () => {
  it.effect("a program written against LocalLayer still runs", () =>
    Effect.gen(function*() {
      const recorded = yield* recordAndRead("names-local").pipe(Effect.provide(LocalLayer))
      assert.deepStrictEqual(recorded.runs, [{ name: "names-local", status: "completed" }])
    }))

  it("a program written against RemoteLayer and layerWithoutHttpClient still compiles with its 0.2 types", () => {
    const program = withRun("old")(Effect.void)
    const options: RemoteLayerModule.Options = { url: "http://localhost:7420", apiKey: "key" }
    const local = Effect.provide(program, LocalLayer)
    expectTypeOf<Effect.Effect.Context<typeof local>>().toEqualTypeOf<never>()
    const remote = Effect.provide(program, RemoteLayer(options).pipe(Layer.provide(Outbox.layerMemory)))
    expectTypeOf<Effect.Effect.Context<typeof remote>>().toEqualTypeOf<never>()
    expectTypeOf(RemoteLayerModule.layerWithoutHttpClient(options)).toEqualTypeOf(Remote.layer(options))
    expectTypeOf(LocalLayer).toEqualTypeOf(Memory.layer)
  })
})
