/**
 * The remote backend: writes and reads through `multirun serve` over HTTP. Like Effect's own
 * clients, the layers take the `HttpClient` from the context (`FetchHttpClient.layer` of
 * `@effect/platform`, or the platform's own), and the {@link Outbox.Outbox} every write goes
 * through first (`SqliteOutbox.layer()` of `@multirun/sql`, durable, or `Outbox.layerMemory`).
 * What the options mean, and how writes are batched, retried and kept: `RemoteLayer.Options`.
 *
 * @example
 * import { FetchHttpClient } from "@effect/platform"
 * import { Remote } from "@multirun/core"
 * import { SqliteOutbox } from "@multirun/sql"
 *
 * const backend = Remote.layer({ url: "http://localhost:7420", apiKey: Redacted.make(key) }).pipe(
 *   Layer.provide([FetchHttpClient.layer, SqliteOutbox.layer()])
 * )
 *
 * @since 0.3.0
 */
import type { HttpClient } from "@effect/platform"
import { Config, Effect, Layer } from "effect"
import type { ConfigError } from "effect"
import type * as Checkpoints from "./Checkpoints.js"
import type { BackendError } from "./Errors.js"
import type * as MultiRunClient from "./MultiRunClient.js"
import type { Outbox } from "./Outbox.js"
import * as RemoteLayer from "./RemoteLayer.js"

/**
 * Where the server is, the API key, and how writes are batched and retried (see
 * `RemoteLayer.Options` for each field).
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends RemoteLayer.Options {}

/**
 * The remote backend with the checkpoint service, over the `HttpClient` and the {@link Outbox}
 * in the context. It checks the server when it starts (`BackendError("Unreachable")` or
 * `BackendError("Unauthorized")`, naming the URL). Replaces `RemoteLayer` (0.2), which provided
 * `FetchHttpClient` itself, and `RemoteLayer.layerWithoutHttpClient`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints, BackendError, HttpClient.HttpClient | Outbox> =>
  RemoteLayer.layerWithoutHttpClient(options)

/**
 * {@link layer} with its options read through `Config`, e.g.
 * `Remote.layerConfig({ url: Config.string("MULTIRUN_URL"), apiKey: Config.redacted("MULTIRUN_API_KEY") })`.
 * A missing or malformed value fails the layer with a `ConfigError` naming it.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  MultiRunClient.MultiRunClient | Checkpoints.Checkpoints,
  BackendError | ConfigError.ConfigError,
  HttpClient.HttpClient | Outbox
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
