import { describe, it } from "@effect/vitest"
import type { Layer } from "effect"
import type { Checkpoints } from "../../src/Checkpoints.js"
import type { MultiRunClient } from "../../src/MultiRunClient.js"

/** A backend under test: a fresh layer per test. */
export type BackendLayer = () => Layer.Layer<MultiRunClient | Checkpoints, unknown>

/**
 * The backend conformance suite: every backend's tests call it with a layer factory, so the same
 * behaviours hold on memory, SQLite, PostgreSQL and the remote server.
 */
export const conformance = (name: string, _makeLayer: BackendLayer): void => {
  describe(`conformance: ${name}`, () => {
    it.todo("is being written")
  })
}
