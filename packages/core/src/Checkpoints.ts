/**
 * `Checkpoints`, the service: take, restore, list and compare checkpoints. The record it works
 * on is `Checkpoint`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { Checkpoint, CheckpointDiff, covers } from "./Checkpoint.js"
import { BackendError, type CheckpointError, type SerializationError } from "./Errors.js"
import { loadCheckpoint, toCheckpoint } from "./internal/lineage.js"
import { MultiRunClient } from "./MultiRunClient.js"
import { RunContext } from "./RunContext.js"
import { Step } from "./StepRecord.js"

/**
 * The `Checkpoints` service's interface (the record is `Checkpoint`): checkpoints of any run in
 * the backend. `checkpoint` and `restore` act on the current run.
 *
 * @since 0.1.0
 */
export interface CheckpointsService {
  readonly checkpoint: (
    name: string,
    options?: { readonly extraState?: unknown }
  ) => Effect.Effect<Checkpoint, CheckpointError | BackendError | SerializationError, RunContext>
  readonly restore: (checkpointId: string) => Effect.Effect<Checkpoint, CheckpointError | BackendError, RunContext>
  readonly get: (checkpointId: string) => Effect.Effect<Checkpoint, CheckpointError | BackendError>
  readonly list: (runId: string) => Effect.Effect<ReadonlyArray<Checkpoint>, CheckpointError | BackendError>
  readonly latest: (runId: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError | BackendError>
  readonly diff: (from: string, to: string) => Effect.Effect<CheckpointDiff, CheckpointError | BackendError>
}

/**
 * `Checkpoints` is the service (take, restore, list, compare); the stored record is `Checkpoint`.
 *
 * @since 0.1.0
 */
export class Checkpoints extends Context.Tag("@multirun/core/Checkpoints")<Checkpoints, CheckpointsService>() {}

export {
  /** @since 0.1.0 */
  CheckpointDiff
} from "./Checkpoint.js"

const compareState = (
  prefix: string,
  from: Readonly<Record<string, unknown>>,
  to: Readonly<Record<string, unknown>>,
  out: { added: Array<string>; removed: Array<string>; changed: Array<string> }
) => {
  for (const key of Object.keys(to)) {
    if (!(key in from)) out.added.push(`${prefix}.${key}`)
    else if (JSON.stringify(from[key]) !== JSON.stringify(to[key])) out.changed.push(`${prefix}.${key}`)
  }
  for (const key of Object.keys(from)) if (!(key in to)) out.removed.push(`${prefix}.${key}`)
}

const agentStates = (checkpoint: Checkpoint) =>
  Object.fromEntries(checkpoint.agents.map((agent) => [agent.name, agent.state]))

const extraOf = (checkpoint: Checkpoint): Record<string, unknown> =>
  checkpoint.extraState === null ? {} : { extra: checkpoint.extraState }

const decodeSteps = Schema.decodeUnknown(Schema.Array(Step))

/**
 * Builds the checkpoint service over a backend.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<CheckpointsService, never, MultiRunClient> = Effect.gen(function*() {
  const client = yield* MultiRunClient
  const list = (runId: string) =>
    Effect.flatMap(client.listCheckpoints(runId), Effect.forEach((encoded) => toCheckpoint(encoded, encoded.id)))
  const get = (checkpointId: string) => loadCheckpoint(client, checkpointId)
  return Checkpoints.of({
    checkpoint: (name, options) => Effect.flatMap(RunContext, (run) => run.checkpoint(name, options)),
    restore: (checkpointId) => Effect.flatMap(RunContext, (run) => run.restoreFromCheckpoint(checkpointId)),
    get,
    list,
    latest: (runId) => Effect.map(list(runId), (all) => Option.fromNullable(all.at(-1))),
    diff: (fromId, toId) =>
      Effect.gen(function*() {
        const [from, to] = yield* Effect.all([get(fromId), get(toId)])
        const out = { added: [] as Array<string>, removed: [] as Array<string>, changed: [] as Array<string> }
        compareState("run", from.runState, to.runState, out)
        const fromAgents = agentStates(from)
        const toAgents = agentStates(to)
        for (const name of new Set([...Object.keys(fromAgents), ...Object.keys(toAgents)])) {
          compareState(`agent:${name}`, fromAgents[name] ?? {}, toAgents[name] ?? {}, out)
        }
        compareState("", extraOf(from), extraOf(to), out)
        const runSteps = from.runId === to.runId ? yield* client.listSteps(to.runId) : []
        const between = runSteps.filter((step) =>
          step.status !== "running" && covers(to.covered, step.seq) && !covers(from.covered, step.seq)
        )
        const steps = yield* Effect.mapError(decodeSteps(between), (error) =>
          new BackendError({ operation: "diff", detail: `stored steps do not decode: ${error.message}` }))
        const trim = (paths: Array<string>) => paths.map((path) => path.startsWith(".") ? path.slice(1) : path)
        return new CheckpointDiff({
          from: from.id,
          to: to.id,
          added: trim(out.added),
          removed: trim(out.removed),
          changed: trim(out.changed),
          steps
        })
      })
  })
})

/**
 * The checkpoint service over the provided backend.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Checkpoints, never, MultiRunClient> = Layer.effect(Checkpoints, make)

/**
 * A backend's client layer with the checkpoint service built once over it: what every backend
 * layer (`Memory.layer`, `Sqlite.layer`, `Pg.layer`, `Remote.layer`) provides.
 *
 * @since 0.2.0
 */
export const withClient = <E, R>(
  client: Layer.Layer<MultiRunClient, E, R>
): Layer.Layer<MultiRunClient | Checkpoints, E, R> => Layer.provideMerge(layer, client)
