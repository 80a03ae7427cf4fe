/**
 * The in-memory backend: the counterpart of the reference's `init_local()`.
 *
 * @since 0.1.0
 */
import type { Layer } from "effect"
import * as Checkpoints from "./Checkpoints.js"
import * as MultiRunClient from "./MultiRunClient.js"

/**
 * In-process memory backend with the checkpoint service: for tests and notebooks. Each build of
 * the layer starts empty.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Memory.layer` (`import { Memory } from "@multirun/core"`).
 * @since 0.1.0
 */
export const LocalLayer: Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints> = Checkpoints.withClient(
  MultiRunClient.layerMemory
)
