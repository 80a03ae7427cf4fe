/**
 * The HTTP API of `multirun serve`, defined once: the server implements it with
 * `HttpApiBuilder` and `RemoteLayer` derives its client from it with `HttpApiClient`.
 * Every path lives under `/api`; every group except `health` requires `Authorization: Bearer KEY`.
 *
 * @since 0.1.0
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import * as Checkpoint from "./Checkpoint.js"
import { BackendError, CheckpointError, RunError } from "./Errors.js"
import { AgentRecord, Batch, RunRecord, StepRecord } from "./Event.js"
import * as Lease from "./Lease.js"
import * as RunDiff from "./RunDiff.js"
import { maxIdLength as storedIdLength } from "./internal/storable.js"
import { count, usageByDay, usageDaysParams } from "./internal/usageSchemas.js"
import { RunFilterParams, StepsPageParams, StepSummary } from "./internal/viewSchemas.js"

/** 401: the request has no API key, or a key the server does not know. @since 0.1.0 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>("@multirun/core/Api/Unauthorized")(
  "Unauthorized",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** 404: no such run or checkpoint in the caller's project (another project's ids answer the same). @since 0.1.0 */
export class NotFound extends Schema.TaggedError<NotFound>("@multirun/core/Api/NotFound")(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * 400: the request body is not JSON, or the request is not what the endpoint accepts. (A body
 * that is JSON but violates the schema answers `HttpApiDecodeError`, also 400, naming the field.)
 *
 * @since 0.1.0
 */
export class BadRequest extends Schema.TaggedError<BadRequest>("@multirun/core/Api/BadRequest")(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** 413: the request body is larger than the server accepts. @since 0.1.0 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@multirun/core/Api/PayloadTooLarge")(
  "PayloadTooLarge",
  { message: Schema.String, maxBytes: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {}

/**
 * 503: the server cannot reach its store right now, or is busy; the request may be retried, after
 * `retryAfter` seconds when given (the answer's `Retry-After`). @since 0.1.0
 */
export class Unavailable extends Schema.TaggedError<Unavailable>("@multirun/core/Api/Unavailable")(
  "Unavailable",
  { message: Schema.String, retryAfter: Schema.optional(Schema.Number) },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The project of the API key of the current request, provided by {@link Authorization}. @since 0.1.0 */
export class CurrentProject extends Context.Tag("@multirun/core/Api/CurrentProject")<CurrentProject, string>() {}

/** Bearer-key authentication: resolves the key to its project or fails with {@link Unauthorized}. @since 0.1.0 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("@multirun/core/Api/Authorization", {
  failure: Unauthorized,
  provides: CurrentProject,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The longest id accepted in a path: the longest id a backend stores (since 0.3; 100 before),
 * so every stored id can be served back. @since 0.1.0
 */
export const maxIdLength: number = storedIdLength

/** An id in a path: 1 to 256 characters (the router's limit on a path parameter). @since 0.1.0 */
export const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxIdLength))

/** A checkpoint as sent over the wire. @since 0.1.0 */
export const CheckpointRecord = Schema.encodedBoundSchema(Checkpoint.Checkpoint)

/**
 * The schemas of the viewer's reads: `RunFilterParams` with `runsCursor`/`parseRunsCursor` (since
 * 0.1.0/0.2.0), `StepFilter` and `StepStatusFilter` (since 0.3.0), `StepsPageParams` and
 * `StepSummary` (since 0.2.0).
 */
export {
  parseRunsCursor,
  RunFilterParams,
  runsCursor,
  StepFilter,
  StepStatusFilter,
  StepsPageParams,
  StepSummary
} from "./internal/viewSchemas.js"

/**
 * An event of a batch that the server refused, and why: the other events of the batch are
 * stored all the same.
 *
 * @since 0.2.0
 */
export class RejectedEvent extends Schema.Class<RejectedEvent>("@multirun/core/Api/RejectedEvent")({
  /** Its position in the batch. */
  index: Schema.Int,
  eventId: Schema.NullOr(Schema.String),
  reason: Schema.String,
  /** `Invalid`: not a valid record; `Fenced`: its writer's lease epoch is older than the run's (see `Lease`). */
  code: Schema.optionalWith(Schema.Literal("Invalid", "Fenced"), { default: () => "Invalid" })
}) {}

/**
 * The answer to an ingested batch, per item: how many events were stored, whether the batch id
 * had been stored before (a retried batch stores nothing again), and each event refused with
 * its reason.
 *
 * @since 0.1.0
 */
export class IngestResult extends Schema.Class<IngestResult>("@multirun/core/Api/IngestResult")({
  stored: Schema.Int,
  duplicate: Schema.Boolean,
  rejected: Schema.optionalWith(Schema.Array(RejectedEvent), { default: () => [] })
}) {}

/** The answer of `GET /api/health`. @since 0.1.0 */
export class Health extends Schema.Class<Health>("@multirun/core/Api/Health")({
  status: Schema.Literal("ok"),
  version: Schema.String
}) {}

const runId = HttpApiSchema.param("runId", Id)
const checkpointId = HttpApiSchema.param("checkpointId", Id)
const fromId = HttpApiSchema.param("from", Id)
const toId = HttpApiSchema.param("to", Id)
const otherRunId = HttpApiSchema.param("otherRunId", Id)

/** `GET /api/health`: liveness, no key needed. @since 0.1.0 */
export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Health))
{}

/** Runs of the caller's project, their agents and steps. @since 0.1.0 */
export class RunsGroup extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("list", "/runs")
      .setUrlParams(RunFilterParams)
      .addSuccess(Schema.Array(RunRecord))
      .annotate(
        OpenApi.Description,
        "Runs of the project, newest first. A running run whose lease expired (its owner is gone) carries " +
          "`stalled: { owner, lastSeenAt }`, judged on the server's clock; `status=stalled` lists those, " +
          "`status=running` only the live ones."
      )
  )
  .add(HttpApiEndpoint.get("get")`/runs/${runId}`.addSuccess(RunRecord).addError(NotFound))
  .add(
    HttpApiEndpoint.get("agents")`/runs/${runId}/agents`
      .addSuccess(Schema.Array(AgentRecord))
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.get("steps")`/runs/${runId}/steps`
      .addSuccess(Schema.Array(StepRecord))
      .addError(NotFound)
      .annotate(OpenApi.Description, "Steps of the run ordered by seq.")
  )
  .middleware(Authorization)
{}

/** Checkpoints: save, get, list and latest of a run, diff between two. @since 0.1.0 */
export class CheckpointsGroup extends HttpApiGroup.make("checkpoints")
  .add(
    HttpApiEndpoint.post("save", "/checkpoints")
      .setPayload(CheckpointRecord)
      .setUrlParams(Schema.Struct({ epoch: Schema.optional(Schema.NumberFromString.pipe(Schema.int())) }))
      .addSuccess(HttpApiSchema.Created)
      .addError(NotFound)
      .addError(CheckpointError, { status: 409 })
      .addError(RunError, { status: 409 })
      .annotate(
        OpenApi.Description,
        "Stores a checkpoint of a run of the project. A second checkpoint with the same (runId, version) answers 409, " +
          "and so does one whose writer's lease `epoch` is older than the run's current one (RunError Fenced)."
      )
  )
  .add(HttpApiEndpoint.get("get")`/checkpoints/${checkpointId}`.addSuccess(CheckpointRecord).addError(NotFound))
  .add(
    HttpApiEndpoint.get("list")`/runs/${runId}/checkpoints`
      .addSuccess(Schema.Array(CheckpointRecord))
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.get("latest")`/runs/${runId}/checkpoints/latest`
      .addSuccess(CheckpointRecord)
      .addError(NotFound)
  )
  .add(
    HttpApiEndpoint.get("diff")`/checkpoints/${fromId}/diff/${toId}`
      .addSuccess(Checkpoint.CheckpointDiff)
      .addError(NotFound)
      .addError(CheckpointError, { status: 409 })
  )
  .middleware(Authorization)
{}

/**
 * Run leases (see `Lease`), on the server's store's clock: acquire (409 `RunError("Locked")`
 * while another live owner holds the run, `NotFound` for a run the server does not hold, 400 for
 * a time to live out of bounds), renew (409 `RunError("Fenced")` once another owner took it),
 * release. The requests carry no time; a `now` sent by a 0.2 client is ignored.
 *
 * @since 0.2.0
 */
export class LeasesGroup extends HttpApiGroup.make("leases")
  .add(
    HttpApiEndpoint.post("acquire")`/runs/${runId}/lease`
      .setPayload(Lease.Request.pipe(Schema.omit("runId")))
      .addSuccess(Lease.Lease)
      .addError(RunError, { status: 409 })
  )
  .add(
    HttpApiEndpoint.put("renew")`/runs/${runId}/lease`
      .setPayload(Schema.Struct({ lease: Lease.Lease }))
      .addSuccess(Lease.Lease)
      .addError(RunError, { status: 409 })
  )
  .add(HttpApiEndpoint.post("release")`/runs/${runId}/lease/release`.setPayload(Lease.Lease))
  .middleware(Authorization)
{}

// --- viewer (issue #11) ----------------------------------------------------------

/**
 * What the run viewer reads besides the records: a run's steps paged by `seq`, whole or as
 * summaries (no input and output), two runs compared, and a run's JSON lines as a download
 * (`export`); both since 0.3.0.
 *
 * @since 0.2.0
 */
export class ViewsGroup extends HttpApiGroup.make("views")
  .add(
    HttpApiEndpoint.get("steps")`/runs/${runId}/steps/page`
      .setUrlParams(StepsPageParams)
      .addSuccess(Schema.Array(StepRecord))
      .addError(NotFound)
      .annotate(OpenApi.Description, "Steps of the run ordered by seq, from `afterSeq` (exclusive), at most `limit`; filtered by `agent`, `kind`, " +
          "`status`, `name` and `text` when given.")
  )
  .add(
    HttpApiEndpoint.get("timeline")`/runs/${runId}/timeline`
      .setUrlParams(StepsPageParams)
      .addSuccess(Schema.Array(StepSummary))
      .addError(NotFound)
      .annotate(OpenApi.Description, "Steps of the run without input and output, ordered by seq, paged; filtered like `steps/page`.")
  )
  .add(
    HttpApiEndpoint.get("diff")`/runs/${runId}/diff/${otherRunId}`
      .addSuccess(RunDiff.RunDiff)
      .addError(NotFound)
      .annotate(
        OpenApi.Description,
        "Compares two runs of the project (see `RunDiff`): steps aligned by agent, step name and occurrence, " +
          "what differs, and the deltas (second − first) of latency, tokens and cost per step, per agent and in total."
      )
  )
  .add(
    HttpApiEndpoint.get("export")`/runs/${runId}/export`
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "application/x-ndjson" })))
      .addError(NotFound)
      .addError(CheckpointError, { status: 409 })
      .annotate(
        OpenApi.Description,
        "The run with its agents, steps and checkpoints as JSON lines (what `multirun export` prints), as a download."
      )
  )
  .middleware(Authorization)
{}

/**
 * The body of `POST /api/ingest`: a batch of write events as JSON. The envelope is checked here
 * (a bad one is 400); the server validates each event on its own against the record schemas,
 * so one bad event is refused in the answer's `rejected` and never drops the others.
 *
 * @since 0.1.0
 */
export const IngestPayload = Schema.Struct({
  batchId: Batch.fields.batchId,
  events: Schema.Array(Schema.Unknown)
})

/** @since 0.2.0 */
export type IngestPayload = typeof IngestPayload.Type

/** `POST /api/ingest`: one batch of write events, stored in one transaction, once per batch id. @since 0.1.0 */
export class IngestGroup extends HttpApiGroup.make("ingest")
  .add(
    HttpApiEndpoint.post("ingest", "/ingest")
      .setPayload(IngestPayload)
      .addSuccess(IngestResult)
      .annotate(
        OpenApi.Description,
        "Stores a batch of run, agent and step records in one transaction, each event validated on its own: " +
          "refused events are listed with their reason and the others are stored. A batch id seen before stores nothing."
      )
  )
  .middleware(Authorization)
{}

/**
 * The answer of `GET /api/usage/days` (`@multirun/sql`'s `UsageByDay.Report`): each UTC day of
 * the last 30, oldest first, the window's total, its most expensive runs and models.
 *
 * @since 0.3.0
 */
export const UsageByDay = usageByDay

/**
 * The query of `GET /api/usage/days`: `until`, the last UTC day of the 30 (`2026-11-30`; today
 * when absent).
 *
 * @since 0.3.0
 */
export const UsageDaysParams = usageDaysParams

/**
 * `GET /api/usage`: what the caller's project stores (runs by status, agents, steps, checkpoints,
 * bytes of the stored records), for `multirun usage --url`; `GET /api/usage/days` (since 0.3.0):
 * what it spent per UTC day of the last 30 ({@link UsageByDay}); `GET /api/project`: the name of
 * the key's project, which `RemoteLayer` keys its outbox by. @since 0.2.0
 */
export class UsageGroup extends HttpApiGroup.make("usage")
  .add(
    HttpApiEndpoint.get("project", "/project")
      .addSuccess(Schema.Struct({ project: Schema.String }))
      .annotate(OpenApi.Description, "The project of the API key; cheap, for a client to learn where its records go.")
  )
  .add(HttpApiEndpoint.get("usage", "/usage").addSuccess(Schema.Struct({
    project: Schema.String,
    runs: Schema.Struct({ running: count, completed: count, failed: count, interrupted: count }),
    agents: count,
    steps: count,
    checkpoints: count,
    bytes: count
  })))
  .add(
    HttpApiEndpoint.get("days", "/usage/days")
      .setUrlParams(UsageDaysParams)
      .addSuccess(UsageByDay)
      .annotate(
        OpenApi.Description,
        "Runs, steps, tokens and cost per UTC day of the 30 that end with `until` (default today; a step counts on the day it started), " +
          "with the most expensive runs and models. An unknown cost is counted in `unpricedSteps`, never as 0."
      )
  )
  .middleware(Authorization)
{}

/** The multirun HTTP API. @since 0.1.0 */
export class Api extends HttpApi.make("multirun")
  .add(HealthGroup)
  .add(RunsGroup)
  .add(CheckpointsGroup)
  .add(IngestGroup)
  .add(LeasesGroup)
  .add(ViewsGroup)
  .add(UsageGroup)
  .addError(BadRequest)
  .addError(PayloadTooLarge)
  .addError(BackendError, { status: 500 })
  .addError(Unavailable)
  .prefix("/api")
  .annotate(OpenApi.Title, "multirun")
  .annotate(OpenApi.Version, "0.2.0")
  .annotate(OpenApi.Description, "Runs, agents, steps and checkpoints of multi-agent AI programs.")
{}
