/**
 * The in-memory backend: runs, agents, steps and checkpoints kept in the process, for tests,
 * notebooks and trying multirun out. Nothing survives the process.
 *
 * @example
 * import { Memory } from "@multirun/core"
 * program.pipe(Effect.provide(Memory.layer))
 *
 * @since 0.3.0
 */
import type { Layer } from "effect"
import type * as Checkpoints from "./Checkpoints.js"
import { LocalLayer } from "./LocalLayer.js"
import type * as MultiRunClient from "./MultiRunClient.js"

/**
 * The memory backend with the checkpoint service. Each build of the layer starts empty.
 * Replaces `LocalLayer` (0.2).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer: Layer.Layer<MultiRunClient.MultiRunClient | Checkpoints.Checkpoints> = LocalLayer
