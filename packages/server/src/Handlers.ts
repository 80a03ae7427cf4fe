/**
 * The server's implementation of every group of `Api.Api`, over the {@link Store}. Each request
 * works inside the project of its API key: another project's ids answer 404 like unknown ids.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder } from "@effect/platform"
import { Api, BackendError, Checkpoint, CheckpointError, MultiRunClient, type Run, RunError } from "@multirun/core"
import * as Checkpoints from "@multirun/core/Checkpoints"
import { Effect, Layer, Option } from "effect"
import { Store } from "./Store.js"
import * as Views from "./Views.js"

/** The read-only view of the request's project, made for this request. */
const projectView = Effect.flatMap(Api.CurrentProject, (project) => Effect.flatMap(Store, (store) => store.view(project)))

const runNotFound = (runId: string) => new Api.NotFound({ message: `run ${runId} not found` })
const checkpointNotFound = (checkpointId: string) =>
  new Api.NotFound({ message: `checkpoint ${checkpointId} not found` })

/** The project's view, after checking that the run is the project's. */
const viewOfRun = (runId: string) =>
  Effect.tap(projectView, (view) =>
    Effect.flatMap(view.getRun(runId), Option.match({
      onNone: () => Effect.fail(runNotFound(runId)),
      onSome: () => Effect.void
    })))

/** A checkpoint error about a missing checkpoint is a 404 like any other unknown id. */
const notFoundCheckpoint = <A, E, R>(self: Effect.Effect<A, E | CheckpointError, R>) =>
  Effect.catchIf(
    self,
    (error): error is CheckpointError => error instanceof CheckpointError && error.reason === "NotFound",
    (error) => Effect.fail(checkpointNotFound(error.checkpointId ?? "?"))
  )

/**
 * `GET /api/health`.
 *
 * @since 0.1.0
 */
export const healthLayer = (version: string) =>
  HttpApiBuilder.group(Api.Api, "health", (handlers) =>
    handlers.handle("health", () => Effect.succeed(new Api.Health({ status: "ok", version }))))

/**
 * Runs, agents and steps.
 *
 * @since 0.1.0
 */
export const runsLayer = HttpApiBuilder.group(Api.Api, "runs", (handlers) =>
  handlers
    .handle("list", ({ urlParams }): Effect.Effect<
      ReadonlyArray<Run.Encoded>,
      BackendError,
      Store | Views.Queries | Api.CurrentProject
    > =>
      Views.isRunsPage(urlParams) // viewer (issue #11): search and cursor
        ? Views.runsPage(urlParams)
        : Effect.flatMap(projectView, (view) => view.listRuns(urlParams)))
    .handle("get", ({ path }) =>
      Effect.flatMap(projectView, (view) => view.getRun(path.runId)).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(runNotFound(path.runId)), onSome: Effect.succeed }))
      ))
    .handle("agents", ({ path }) => Effect.flatMap(viewOfRun(path.runId), (view) => view.listAgents(path.runId)))
    .handle("steps", ({ path }) => Effect.flatMap(viewOfRun(path.runId), (view) => view.listSteps(path.runId))))

/** Refuses with 400 a checkpoint no database stores (a bad id, U+0000 in its name), before the database fails on it. */
const storable = (checkpoint: Checkpoint.Encoded): Effect.Effect<void, Api.BadRequest> => {
  const unstorable = Checkpoint.unstorable(checkpoint)
  return unstorable === undefined ? Effect.void : Effect.fail(new Api.BadRequest({ message: unstorable.message }))
}

/**
 * Checkpoints: save, get, list, latest, diff.
 *
 * @since 0.1.0
 */
export const checkpointsLayer = HttpApiBuilder.group(Api.Api, "checkpoints", (handlers) =>
  handlers
    .handle("save", ({ payload, urlParams }) =>
      Effect.zipRight(
        storable(payload),
        Effect.flatMap(viewOfRun(payload.runId), (view) => view.saveCheckpoint(payload, urlParams.epoch))
      ).pipe(
        notFoundCheckpoint,
        // a writer fenced out of the run is told so with a 409, which it does not retry
        Effect.catchIf(
          (error): error is BackendError => error instanceof BackendError && error.reason === "Fenced",
          (error) => Effect.fail(new RunError({ reason: "Fenced", runId: payload.runId, detail: error.detail }))
        )
      ))
    .handle("get", ({ path }) =>
      Effect.flatMap(projectView, (view) => view.getCheckpoint(path.checkpointId)).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(checkpointNotFound(path.checkpointId)),
          onSome: Effect.succeed
        })),
        notFoundCheckpoint
      ))
    .handle("list", ({ path }) =>
      Effect.flatMap(viewOfRun(path.runId), (view) => view.listCheckpoints(path.runId)).pipe(
        notFoundCheckpoint
      ))
    .handle("latest", ({ path }) =>
      Effect.flatMap(viewOfRun(path.runId), (view) => view.listCheckpoints(path.runId)).pipe(
        Effect.flatMap((all) => {
          const latest = all.at(-1)
          return latest === undefined
            ? Effect.fail(new Api.NotFound({ message: `run ${path.runId} has no checkpoint` }))
            : Effect.succeed(latest)
        }),
        notFoundCheckpoint
      ))
    .handle("diff", ({ path }) =>
      // core's checkpoint service over the view: a few closures, nothing kept after the request
      Effect.flatMap(projectView, (view) => Effect.provideService(Checkpoints.make, MultiRunClient.MultiRunClient, view)).pipe(
        Effect.flatMap((checkpoints) => checkpoints.diff(path.from, path.to)),
        notFoundCheckpoint
      )))

/** A lease in a payload must be of the run in the path. */
const sameRun = (runId: string, lease: { readonly runId: string }) =>
  lease.runId === runId
    ? Effect.void
    : Effect.fail(new Api.BadRequest({ message: `the lease is of run ${lease.runId}, not of run ${runId} in the path` }))

/**
 * Run leases: acquire, renew, release.
 *
 * @since 0.2.0
 */
export const leasesLayer = HttpApiBuilder.group(Api.Api, "leases", (handlers) =>
  handlers
    .handle("acquire", ({ path, payload }) =>
      Effect.flatMap(projectView, (view) => view.acquireLease({ ...payload, runId: path.runId })))
    .handle("renew", ({ path, payload }) =>
      Effect.zipRight(
        sameRun(path.runId, payload.lease),
        Effect.flatMap(projectView, (view) => view.renewLease(payload.lease))
      ))
    .handle("release", ({ path, payload }) =>
      Effect.zipRight(sameRun(path.runId, payload), Effect.flatMap(projectView, (view) => view.releaseLease(payload)))))

/**
 * `POST /api/ingest`.
 *
 * @since 0.1.0
 */
export const ingestLayer = HttpApiBuilder.group(Api.Api, "ingest", (handlers) =>
  handlers.handle("ingest", ({ payload }) =>
    Effect.flatMap(Api.CurrentProject, (project) =>
      Effect.flatMap(Store, (store) => store.ingest(project, payload)))))

/**
 * `GET /api/usage`: what the key's project stores; `GET /api/usage/days`: what it spent per day;
 * `GET /api/project`: the key's project.
 *
 * @since 0.2.0
 */
export const usageLayer = HttpApiBuilder.group(Api.Api, "usage", (handlers) =>
  handlers
    .handle("project", () => Effect.map(Api.CurrentProject, (project) => ({ project })))
    .handle("usage", () =>
      Effect.flatMap(Api.CurrentProject, (project) => Effect.flatMap(Store, (store) => store.usage(project))))
    .handle("days", ({ urlParams }) =>
      Effect.flatMap(Api.CurrentProject, (project) =>
        Effect.flatMap(Store, (store) => store.usageByDay(project, urlParams.until)))))

/**
 * Every group of the API.
 *
 * @since 0.1.0
 */
export const layer = (version: string) =>
  Layer.mergeAll(
    healthLayer(version),
    runsLayer,
    checkpointsLayer,
    ingestLayer,
    leasesLayer,
    usageLayer,
    Views.layerHandlers
  )
