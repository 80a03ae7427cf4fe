/**
 * `Remote.layer` and `Remote.layerConfig` (0.3) against a real server: like Effect's own
 * clients, they take the `HttpClient` from the context, here `FetchHttpClient.layer` provided by
 * the test, and the outbox. The type checks are made by `tsc -b`, which type-checks this file.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, expectTypeOf, layer } from "@effect/vitest"
import { Outbox, Remote, withRun } from "@multirun/core"
import { recordAndRead } from "@multirun/core/test-utils"
import { Config, ConfigProvider, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { layerSqlite, TestServer } from "./TestServer.js"

/** A key of a new (empty) project of the block's server. */
const freshKey = Effect.flatMap(TestServer, (server) => server.keyFor(`project-${randomUUID()}`))

layer(layerSqlite(), { excludeTestServices: true })("Remote names", (it) => {
  it.effect("Remote.layer over the HttpClient the program provides records a run on the server", () =>
    Effect.gen(function*() {
      const { url } = yield* TestServer
      const apiKey = yield* freshKey
      const remote = Remote.layer({ url, apiKey }).pipe(Layer.provide([FetchHttpClient.layer, Outbox.layerMemory]))
      const recorded = yield* recordAndRead("names-remote").pipe(Effect.provide(remote))
      assert.deepStrictEqual(recorded, {
        runs: [{ name: "names-remote", status: "completed" }],
        steps: ["plan", "answer"]
      })
    }))

  it.effect("Remote.layerConfig reads the URL and the key through Config", () =>
    Effect.gen(function*() {
      const { url } = yield* TestServer
      const apiKey = yield* freshKey
      const remote = Remote.layerConfig({ url: Config.string("MULTIRUN_URL"), apiKey: Config.redacted("MULTIRUN_API_KEY") })
        .pipe(
          Layer.provide([FetchHttpClient.layer, Outbox.layerMemory]),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
            new Map([["MULTIRUN_URL", url], ["MULTIRUN_API_KEY", apiKey]])
          )))
        )
      const recorded = yield* recordAndRead("names-remote-config").pipe(Effect.provide(remote))
      assert.deepStrictEqual(recorded.runs, [{ name: "names-remote-config", status: "completed" }])
    }))

  it.effect("Remote.layer without an HttpClient does not compile", () =>
    Effect.sync(() => {
      const remote = Remote.layer({ url: "http://127.0.0.1:1", apiKey: "key" }).pipe(Layer.provide(Outbox.layerMemory))
      // never called: only the compiler's verdict matters
      const withoutHttpClient = () =>
        // @ts-expect-error the HttpClient is the program's to provide, like Effect's own clients
        Effect.runPromise(withRun("r")(Effect.void).pipe(Effect.provide(remote)))
      expectTypeOf(withoutHttpClient).toBeFunction()
    }))
})
