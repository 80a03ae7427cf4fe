/**
 * The remote backend: talks to `multirun serve` over HTTP with a client derived from the shared
 * {@link Api} definition. Every write is first appended to the {@link Outbox} the program provides
 * (`SqliteOutbox.layer()` of `@multirun/sql`, durable, or `Outbox.layerMemory`), then buffered by
 * {@link BatchWriter} and sent as ingest batches; each batch carries a fresh batch id that its
 * retries reuse, so a batch delivered twice is stored once.
 *
 * @since 0.1.0
 */
import {
  FetchHttpClient,
  HttpApiClient,
  HttpClient,
  HttpClientError,
  HttpClientRequest
} from "@effect/platform"
import { Cause, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import type { Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as Api from "./Api.js"
import * as BatchWriter from "./BatchWriter.js"
import * as Checkpoints from "./Checkpoints.js"
import { BackendError, CheckpointError, RunError } from "./Errors.js"
import * as Event from "./Event.js"
import * as Lease from "./Lease.js"
import { MultiRunClient, type MultiRunClientService } from "./MultiRunClient.js"
import { Outbox } from "./Outbox.js"
import {
  backendError,
  checkServer,
  describe,
  honoringRetryAfter,
  isRecordFault,
  ingestPoster,
  isServerFailure,
  weigh
} from "./internal/remote.js"
import { Refusals } from "./internal/refusals.js"

/**
 * Where the server is and how to talk to it.
 *
 * - `url`: the server's base URL, e.g. `http://localhost:7420`.
 * - `apiKey`: a key made with `multirun keys create --project NAME`.
 * - `maxBatch`: records per ingest request (default 1,000).
 * - `maxBatchBytes`: a request is also cut before its records' encoded size passes this
 *   (default 4 MiB, under the server's default body limit of 5 MiB). A single record the server
 *   still finds too large (413) is reported as refused, like any record it rejects.
 * - `maxInFlight`: ingest requests sent at once (default 4), so the client encodes the next
 *   batches while the server stores the earlier ones. A batch holding a run or agent record
 *   is sent alone, after every earlier batch is answered and before any later one, so a
 *   record written again (a run that ends) never arrives before an older write of it.
 * - `capacity`: records buffered while the server is slow or away before the run waits
 *   (default 20,000). Nothing is ever dropped.
 * - `retryBase` / `retryMax`: the exponential, jittered backoff between retries of a transient
 *   failure (connection refused, timeout, 5xx, 429): from 50 ms, capped at 5 s by default.
 *   Writes retry transient failures within `writeDeadline`; reads give up after `readRetries`
 *   retries (default 10).
 * - `requestTimeout`: one attempt's time limit (default 30 s).
 * - `writeDeadline`: how long a batch may keep failing (default {@link defaultWriteDeadline};
 *   `Duration.infinity` waits for ever). Past it, the writes waiting on the batch (a `flush`, a
 *   checkpoint, the run's end) fail with `BackendError("Timeout")` while the server is away (the
 *   records stay buffered and in the outbox, and are still retried); a batch the server kept
 *   failing on (500) is split to find the records it fails on, which are set aside.
 *
 * The layer checks the server when it starts: an unreachable URL fails with
 * `BackendError("Unreachable")` and a key the server refuses with `BackendError("Unauthorized")`,
 * both naming the URL, before the program runs a step. While writes are retried, every failed
 * attempt is logged as a warning with its attempt count.
 *
 * Every write is appended to the {@link Outbox} before it returns; the server's answer for a
 * record (stored or duplicate) removes it. A batch refused whole (413, 400) is split down to single
 * records; a record the server refuses is set aside in the outbox (kept, logged once with the
 * command that lists it, reported by the next flush as `BackendError("Rejected")`), so that the
 * records after it flow. Once the server check passes, the records an earlier process left in
 * the outbox for the key's project, through whatever URL or key, are sent first; records the
 * layer does not send (set aside, or of another project) are reported once at start with the
 * `multirun outbox` commands that send or drop them.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly url: string
  readonly apiKey: string | Redacted.Redacted<string>
  readonly maxBatch?: number | undefined
  readonly maxBatchBytes?: number | undefined
  readonly maxInFlight?: number | undefined
  readonly capacity?: number | undefined
  readonly retryBase?: Duration.DurationInput | undefined
  readonly retryMax?: Duration.DurationInput | undefined
  readonly readRetries?: number | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
  readonly writeDeadline?: Duration.DurationInput | undefined
}

/**
 * How long a batch of writes may keep failing when `writeDeadline` is not given.
 *
 * @since 0.3.0
 */
export const defaultWriteDeadline: Duration.DurationInput = "60 seconds"

/** Retries of a transient failure for each part of a batch being split to find a refused record. */
const splitRetries = 2

/**
 * Whether a failed request may succeed if sent again: the server was unreachable, too slow,
 * overloaded (429) or failed on its side (5xx).
 *
 * @since 0.1.0
 */
export const isTransient = (error: unknown): boolean => {
  if (HttpClientError.isHttpClientError(error)) {
    if (error._tag === "RequestError") return error.reason === "Transport"
    return error.response.status >= 500 || error.response.status === 429
  }
  return error instanceof BackendError || error instanceof Api.Unavailable || Cause.isTimeoutException(error)
}

/**
 * Builds the remote backend over the provided `HttpClient`. The writer's fiber lives in the
 * scope, and closing the scope flushes what is buffered.
 *
 * @since 0.1.0
 */
// one closure over the client, the writer and the refused records: the service's methods share them
export const make = (
  options: Options
): Effect.Effect<MultiRunClientService, BackendError, HttpClient.HttpClient | Outbox | Scope.Scope> =>
  Effect.gen(function*() {
    const apiKey = typeof options.apiKey === "string" ? Redacted.make(options.apiKey) : options.apiKey
    const api = yield* HttpApiClientFor(options.url, apiKey)
    const location = options.url.replace(/\/+$/, "")
    const outbox = yield* Outbox
    const timeout = options.requestTimeout ?? "30 seconds"
    const project = yield* checkServer(api, location, Duration.min(Duration.decode(timeout), Duration.seconds(10)))
    // records go to the project they were written for, whatever URL or key reaches it
    const target = `project:${project}`
    const backoff = Schedule.exponential(options.retryBase ?? "50 millis").pipe(
      Schedule.union(Schedule.spaced(options.retryMax ?? "5 seconds")),
      Schedule.jittered,
      honoringRetryAfter
    )
    const whileTransient = Schedule.whileInput(backoff, isTransient)
    const readSchedule = Schedule.intersect(whileTransient, Schedule.recurs(options.readRetries ?? 10))

    /** Logs a failed attempt that will be retried, with its count. */
    const retrying = (operation: string) => {
      let attempt = 0
      return (error: unknown) =>
        isTransient(error)
          ? Effect.logWarning(
            `multirun: ${operation} at ${location} failed (attempt ${++attempt}): ${describe(error)}; retrying`
          )
          : Effect.void
    }

    /**
     * One request with its timeout, retried by `schedule` while the failure is transient; each
     * failed attempt that will be retried is logged with its count.
     */
    const call = <A, E>(
      operation: string,
      request: Effect.Effect<A, E>,
      schedule: Schedule.Schedule<unknown, unknown> = readSchedule
    ): Effect.Effect<A, BackendError | Extract<E, Api.NotFound | CheckpointError | RunError>> =>
      Effect.suspend(() =>
        Effect.retry(Effect.tapError(Effect.timeout(request, timeout), retrying(operation)), schedule).pipe(
          Effect.mapError((error) =>
            error instanceof Api.NotFound || error instanceof CheckpointError || error instanceof RunError
              ? error as Extract<E, Api.NotFound | CheckpointError | RunError>
              : backendError(operation, location)(error)
          )
        )
      )

    const deadline = Duration.decode(options.writeDeadline ?? defaultWriteDeadline)
    /** Fails `request` with `BackendError("Timeout")` once the write deadline has passed. */
    const withinDeadline = <A, E>(operation: string, what: string, request: Effect.Effect<A, E>) =>
      Duration.isFinite(deadline)
        ? Effect.timeoutFail(request, {
          duration: deadline,
          onTimeout: () =>
            new BackendError({
              operation,
              reason: "Timeout",
              location,
              detail: `the server did not take ${what} within ${Duration.format(deadline)} (writeDeadline)`
            })
        })
        : request

    const http = yield* HttpClient.HttpClient
    const postBatch = ingestPoster(http, options.url, apiKey)
    const stranded = yield* outbox.stranded(target)
    const refusals = new Refusals(outbox, location, stranded)

    /**
     * Sends `events` in one request, retried while the failure is transient: the first time within
     * the write deadline, when splitting a refused batch at most `splitRetries` times. A batch the
     * records may be at fault for (413, 400, or 500 past the deadline) is split in halves, sent in
     * order; a record refused alone is set aside with why. A server that is away fails the write
     * typed; its records stay buffered and are sent again.
     */
    const deliver = (events: ReadonlyArray<Event.Event>, splitting: boolean): Effect.Effect<void, BackendError> =>
      Effect.suspend(() => {
        let last: unknown = undefined
        const warn = retrying("ingest")
        const attempt = Effect.timeout(postBatch(new Event.Batch({ batchId: randomUUID(), events }, true)), timeout).pipe(
          Effect.tapError((error) => Effect.zipRight(Effect.sync(() => void (last = error)), warn(error)))
        )
        const retried = splitting
          ? Effect.retry(attempt, Schedule.intersect(whileTransient, Schedule.recurs(splitRetries)))
          : withinDeadline("ingest", `${events.length} records`, Effect.retry(attempt, whileTransient))
        return Effect.matchEffect(retried, {
          onSuccess: (result) => refusals.settle(events, result.rejected),
          onFailure: (error) => {
            const cause = error instanceof BackendError && error.reason === "Timeout" ? last : error
            if (!isRecordFault(cause)) {
              return Effect.fail(
                error instanceof BackendError ? error : backendError("ingest", location)(error)
              )
            }
            if (events.length === 1) {
              const reason = isServerFailure(cause)
                ? `the server kept failing on it for ${Duration.format(deadline)}: ${describe(cause)}`
                : `refused alone: ${describe(cause)}`
              return refusals.settle(events, [{ index: 0, code: "Invalid", reason }])
            }
            const half = Math.ceil(events.length / 2)
            return Effect.zipRight(deliver(events.slice(0, half), true), deliver(events.slice(half), true))
          }
        })
      })

    const writer = yield* BatchWriter.make<Event.Event>({
      maxBatch: options.maxBatch,
      capacity: options.capacity,
      retry: Schedule.recurs(0),
      weigh,
      maxBatchWeight: options.maxBatchBytes ?? 4 * 1024 * 1024,
      concurrency: options.maxInFlight ?? 4,
      // steps are written once each; runs and agents are written again as they progress
      isBarrier: (event) => event._tag !== "StepWritten",
      write: (events) => {
        // a batch written again after a failure: the records the server answered for meanwhile are done
        const unanswered = events.filter((event) => !refusals.answered.has(event))
        return unanswered.length === 0 ? Effect.void : deliver(unanswered, false)
      }
    })
    if (stranded !== undefined && (stranded.setAside > 0 || stranded.elsewhere.length > 0)) {
      const file = `--file ${stranded.location}`
      const elsewhere = stranded.elsewhere.reduce((sum, { count }) => sum + count, 0)
      yield* Effect.logWarning(
        `multirun: the outbox ${stranded.location} holds records this program does not send: ` +
          [
            stranded.setAside > 0 ? `${stranded.setAside} set aside (refused, or failing past the write deadline)` : "",
            elsewhere > 0
              ? `${elsewhere} for other targets (${stranded.elsewhere.map((t) => `${t.target}: ${t.count}`).join(", ")})`
              : ""
          ].filter((part) => part !== "").join(" and ") +
          `; list them with \`multirun outbox list ${file}\`, send them with ` +
          `\`multirun outbox retry ${file} [--target T] --url URL --api-key KEY\`, ` +
          `or drop them with \`multirun outbox drop ${file} [--target T]\``
      )
    }
    const leftovers = yield* outbox.pending(target)
    if (leftovers.length > 0) {
      for (const event of leftovers) refusals.inherited.add(event.eventId)
      yield* Effect.logInfo(`multirun: sending ${leftovers.length} records an earlier process left in the outbox`)
      yield* Effect.forEach(leftovers, writer.offer, { discard: true })
    }
    /** The outbox could not take a write (a full disk…) since the last flush, which reports it at once. */
    let unrecorded: BackendError | undefined
    /** Appends the event to the outbox (durable before the write returns), then buffers it. */
    const record = (event: Event.Event) =>
      Effect.zipRight(
        Effect.tapError(outbox.append(target, [event]), (error) => Effect.sync(() => void (unrecorded = error))),
        writer.offer(event)
      )
    /**
     * Waits for every earlier write; fails with `BackendError("Rejected")` if the server refused some,
     * and at once, without waiting for the server, with the outbox's error if a write never got in.
     */
    const flush = Effect.suspend(() => {
      if (unrecorded === undefined) return flushWritten
      const error = unrecorded
      unrecorded = undefined
      return Effect.fail(error)
    })
    const flushWritten = Effect.zipRight(writer.flush, refusals.report)

    const notFoundAs = <B>(value: B) => <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A | B, Exclude<E, Extract<E, Api.NotFound>>> =>
      Effect.catchIf(self, (error): error is Extract<E, Api.NotFound> => error instanceof Api.NotFound, () =>
        Effect.succeed(value))
    const read = <A, E>(operation: string, request: Effect.Effect<A, E>) => Effect.zipRight(flush, call(operation, request))

    return MultiRunClient.of({
      writeRun: (run, epoch) => record(Event.runWritten(run, epoch)),
      writeAgent: (agent, epoch) => record(Event.agentWritten(agent, epoch)),
      writeStep: (step, epoch) => record(Event.stepWritten(step, epoch)),
      saveCheckpoint: (checkpoint, epoch) =>
        Effect.zipRight(
          Effect.zipRight(flush, refusals.uncovered(checkpoint)),
          withinDeadline(
            "saveCheckpoint",
            "the checkpoint",
            call("saveCheckpoint", api.checkpoints.save({ payload: checkpoint, urlParams: { epoch } }), whileTransient)
          ).pipe(
            Effect.catchTags({
              NotFound: (error) =>
                Effect.fail(
                  new CheckpointError({
                    reason: "NotFound",
                    checkpointId: checkpoint.id,
                    runId: checkpoint.runId,
                    detail: error.message
                  })
                ),
              RunError: () => Effect.fail(Lease.fencedWrites("saveCheckpoint", [{ runId: checkpoint.runId, epoch }], location))
            })
          )
        ),
      flush,
      acquireLease: ({ runId, ...request }) =>
        call("acquireLease", api.leases.acquire({ path: { runId }, payload: request })),
      renewLease: (lease) => call("renewLease", api.leases.renew({ path: { runId: lease.runId }, payload: { lease } })),
      releaseLease: (lease) => call("releaseLease", api.leases.release({ path: { runId: lease.runId }, payload: lease })),
      getRun: (runId) =>
        read("getRun", api.runs.get({ path: { runId } })).pipe(Effect.map(Option.some), notFoundAs(Option.none())),
      listRuns: (filter = {}) => read("listRuns", api.runs.list({ urlParams: filter })),
      listAgents: (runId) => read("listAgents", api.runs.agents({ path: { runId } })).pipe(notFoundAs([])),
      listSteps: (runId) => read("listSteps", api.runs.steps({ path: { runId } })).pipe(notFoundAs([])),
      getCheckpoint: (checkpointId) =>
        read("getCheckpoint", api.checkpoints.get({ path: { checkpointId } })).pipe(
          Effect.map(Option.some),
          notFoundAs(Option.none())
        ),
      listCheckpoints: (runId) => read("listCheckpoints", api.checkpoints.list({ path: { runId } })).pipe(notFoundAs([]))
    })
  })

/** The typed client of {@link Api.Api} for a server URL, sending the bearer key on every request. @since 0.1.0 */
export const HttpApiClientFor = (url: string, apiKey: Redacted.Redacted<string>) =>
  HttpApiClient.make(Api.Api, {
    baseUrl: url,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(apiKey)))
  })

/**
 * The remote backend with the checkpoint service over an `HttpClient` you provide (a proxy, a
 * custom agent, timing, tracing), writing through the {@link Outbox} you provide.
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Remote.layer(options)` (`import { Remote } from "@multirun/core"`),
 * which takes the `HttpClient` from the context the same way.
 * @since 0.1.0
 */
export const layerWithoutHttpClient = (
  options: Options
): Layer.Layer<MultiRunClient | Checkpoints.Checkpoints, BackendError, HttpClient.HttpClient | Outbox> =>
  Checkpoints.withClient(Layer.scoped(MultiRunClient, make(options)))

/**
 * The remote backend with the checkpoint service, over `fetch` (Node 20+, browsers, Deno, Bun).
 * It writes through an {@link Outbox}: provide `SqliteOutbox.layer()` from `@multirun/sql` (a
 * killed process loses nothing) or `Outbox.layerMemory`.
 *
 * @example
 * const remote = RemoteLayer({ url: "http://localhost:7420", apiKey: process.env.MULTIRUN_API_KEY! })
 * program.pipe(Effect.provide(remote.pipe(Layer.provide(SqliteOutbox.layer()))))
 *
 * @deprecated since 0.3.0, removed in 0.4: use `Remote.layer(options)` (`import { Remote } from "@multirun/core"`)
 * with `FetchHttpClient.layer` of `@effect/platform` provided, or `Remote.layerConfig` to read the options through `Config`.
 * @since 0.1.0
 */
export const RemoteLayer = (
  options: Options
): Layer.Layer<MultiRunClient | Checkpoints.Checkpoints, BackendError, Outbox> =>
  layerWithoutHttpClient(options).pipe(Layer.provide(FetchHttpClient.layer))
