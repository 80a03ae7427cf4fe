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
  HttpClientRequest,
  HttpClientResponse
} from "@effect/platform"
import { Cause, Duration, Effect, Layer, Option, Redacted, Schedule } from "effect"
import type { Scope } from "effect"
import { createHash, randomUUID } from "node:crypto"
import * as Api from "./Api.js"
import * as BatchWriter from "./BatchWriter.js"
import * as Checkpoints from "./Checkpoints.js"
import { BackendError, CheckpointError, RunError } from "./Errors.js"
import * as Event from "./Event.js"
import * as Lease from "./Lease.js"
import { MultiRunClient, type MultiRunClientService } from "./MultiRunClient.js"
import { Outbox } from "./Outbox.js"
import { backendError, checkServer, describe, describeRefused, honoringRetryAfter, isTooLarge, weigh } from "./internal/remote.js"

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
 *   Writes retry transient failures until the server answers; reads give up after
 *   `readRetries` retries (default 10).
 * - `requestTimeout`: one attempt's time limit (default 30 s).
 * - `writeDeadline`: how long a batch may keep failing before the writes waiting on it (a
 *   `flush`, a checkpoint, the run's end) fail with `BackendError("Timeout")`; the records stay
 *   buffered and are still retried. Without it they wait until the server answers.
 *
 * The layer checks the server when it starts: an unreachable URL fails with
 * `BackendError("Unreachable")` and a key the server refuses with `BackendError("Unauthorized")`,
 * both naming the URL, before the program runs a step. While writes are retried, every failed
 * attempt is logged as a warning with its attempt count.
 *
 * Every write is appended to the {@link Outbox} before it returns; the server's answer for a
 * record (stored, duplicate or rejected) removes it. Once the server check passes, the records an
 * earlier process left in the outbox for the same URL and key are sent first.
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
    // records go back only to the server and project they were written for
    const target = `${location} key:${createHash("sha256").update(Redacted.value(apiKey)).digest("hex").slice(0, 16)}`
    const timeout = options.requestTimeout ?? "30 seconds"
    yield* checkServer(api, location, Duration.min(Duration.decode(timeout), Duration.seconds(10)))
    const backoff = Schedule.exponential(options.retryBase ?? "50 millis").pipe(
      Schedule.union(Schedule.spaced(options.retryMax ?? "5 seconds")),
      Schedule.jittered,
      honoringRetryAfter
    )
    const whileTransient = Schedule.whileInput(backoff, isTransient)
    const readSchedule = Schedule.intersect(whileTransient, Schedule.recurs(options.readRetries ?? 10))

    /**
     * One request with its timeout, retried by `schedule` while the failure is transient; each
     * failed attempt that will be retried is logged with its count.
     */
    const call = <A, E>(
      operation: string,
      request: Effect.Effect<A, E>,
      schedule: Schedule.Schedule<unknown, unknown> = readSchedule
    ): Effect.Effect<A, BackendError | Extract<E, Api.NotFound | CheckpointError | RunError>> =>
      Effect.suspend(() => {
        let attempt = 0
        const warn = (error: unknown) =>
          isTransient(error)
            ? Effect.logWarning(
              `multirun: ${operation} at ${location} failed (attempt ${++attempt}): ${describe(error)}; retrying`
            )
            : Effect.void
        return Effect.retry(Effect.tapError(Effect.timeout(request, timeout), warn), schedule).pipe(
          Effect.mapError((error) =>
            error instanceof Api.NotFound || error instanceof CheckpointError || error instanceof RunError
              ? error as Extract<E, Api.NotFound | CheckpointError | RunError>
              : backendError(operation, location)(error)
          )
        )
      })

    const deadline = options.writeDeadline === undefined ? undefined : Duration.decode(options.writeDeadline)
    /** A write retried until the server takes it, or until the write deadline passes. */
    const write = <A, E>(operation: string, request: Effect.Effect<A, E>, records: number) => {
      const retried = call(operation, request, whileTransient)
      return deadline === undefined ? retried : retried.pipe(
        Effect.timeoutFail({
          duration: deadline,
          onTimeout: () =>
            new BackendError({
              operation,
              reason: "Timeout",
              location,
              detail: `the server did not take ${records} records within ${Duration.format(deadline)} ` +
                "(writeDeadline); they stay buffered and are still retried"
            })
        })
      )
    }

    const http = yield* HttpClient.HttpClient
    const ingestUrl = `${options.url.replace(/\/+$/, "")}${Api.Api.groups.ingest!.endpoints.ingest!.path}`
    const decodeIngested = HttpClientResponse.schemaBodyJson(Api.IngestResult)
    /** Posts one batch; a non-2xx answer fails with its status and the server's message. */
    const postBatch = (batch: Event.Batch) =>
      http.execute(
        HttpClientRequest.post(ingestUrl).pipe(
          HttpClientRequest.bearerToken(Redacted.value(apiKey)),
          HttpClientRequest.bodyUnsafeJson(batch)
        )
      ).pipe(
        Effect.flatMap((response) =>
          response.status === 200
            ? decodeIngested(response)
            : Effect.flatMap(Effect.orElseSucceed(response.json, () => ({})), (body) =>
              Effect.fail(
                new HttpClientError.ResponseError({
                  request: response.request,
                  response,
                  reason: "StatusCode",
                  description: String((body as { readonly message?: unknown }).message ?? "no message")
                })
              ))
        ),
        Effect.scoped
      )

    /** Events the server refused (a record it does not accept); the next flush reports them once. */
    let refused: Array<string> = []
    /** Events refused because their writer no longer owns the run; the next flush reports them once. */
    let fenced: Array<{ readonly runId: string; readonly epoch: number | undefined }> = []
    /** Ids of the records an earlier process left: a refusal of one is logged, not this program's failure. */
    const inherited = new Set<string>()
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
        const post = postBatch(new Event.Batch({ batchId: randomUUID(), events }, true)).pipe(
          // one record alone that is still too large will never be taken: it is refused, not retried
          Effect.catchIf((error) => events.length === 1 && isTooLarge(error), (error) =>
            Effect.succeed({
              rejected: [{
                index: 0,
                code: "Invalid" as const,
                reason: `larger than the server accepts (413): ${describe(error)}`
              }]
            }))
        )
        return write("ingest", post, events.length).pipe(
          Effect.tap((result) => {
            const earlier: Array<string> = []
            for (const { code, index, reason } of result.rejected) {
              const event = events[index]
              if (code === "Fenced" && event !== undefined && !inherited.has(event.eventId)) {
                fenced.push({ runId: Event.runIdOf(event), epoch: event.epoch })
                continue
              }
              const refusal = describeRefused(event, reason)
              if (inherited.has(event?.eventId ?? "")) earlier.push(refusal)
              else refused.push(refusal)
            }
            // the server has answered for every record: a failure to forget them only sends them again
            return Effect.zipRight(
              earlier.length === 0 ? Effect.void : Effect.logWarning(
                `multirun: the server refused ${earlier.length} record(s) an earlier process left: ${earlier.join("; ")}`
              ),
              outbox.acknowledge(events.map((event) => event.eventId)).pipe(
                Effect.catchAll((error) => Effect.logWarning(`multirun: ${error.message}; they will be sent again`))
              )
            )
          }),
          Effect.asVoid
        )
      }
    })
    const leftovers = yield* outbox.pending(target)
    if (leftovers.length > 0) {
      for (const event of leftovers) inherited.add(event.eventId)
      yield* Effect.logInfo(`multirun: sending ${leftovers.length} records an earlier process left in the outbox`)
      yield* Effect.forEach(leftovers, writer.offer, { discard: true })
    }
    /** Appends the event to the outbox (durable before the write returns), then buffers it. */
    const record = (event: Event.Event) => Effect.zipRight(outbox.append(target, [event]), writer.offer(event))
    /** Waits for every earlier write; fails with `BackendError("Rejected")` if the server refused some. */
    const flush = Effect.zipRight(
      writer.flush,
      Effect.suspend(() => {
        if (fenced.length > 0) {
          const records = fenced
          fenced = []
          return Effect.fail(Lease.fencedWrites("ingest", records, location))
        }
        if (refused.length === 0) return Effect.void
        const reported = refused
        refused = []
        return Effect.fail(
          new BackendError({
            operation: "ingest",
            reason: "Rejected",
            location,
            detail: `the server refused ${reported.length} record(s), the others were stored: ${
              reported.slice(0, 3).join("; ")
            }`
          })
        )
      })
    )

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
          flush,
          write("saveCheckpoint", api.checkpoints.save({ payload: checkpoint, urlParams: { epoch } }), 1).pipe(
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
      renewLease: (lease, now) => call("renewLease", api.leases.renew({ path: { runId: lease.runId }, payload: { lease, now } })),
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
 * @since 0.1.0
 */
export const RemoteLayer = (
  options: Options
): Layer.Layer<MultiRunClient | Checkpoints.Checkpoints, BackendError, Outbox> =>
  layerWithoutHttpClient(options).pipe(Layer.provide(FetchHttpClient.layer))
