/**
 * Typed errors of multirun. Every error that can cross a boundary (HTTP, the store) is a
 * `Schema.TaggedError`, so it can be encoded, stored and decoded again.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A value given to multirun (a step input, a step output, a state value, metadata) is not
 * canonical JSON. `path` names the offending value, e.g. `input.args[0].when`, and `found`
 * says what it was (`Date`, `function`, `bigint`, `NaN`, `cycle`, `class Foo`, ...).
 *
 * Since 0.3, `reason: "Unstorable"`: the value (any text in it, a name, a key, an id) is one no
 * backend can store: text holding U+0000 or a lone surrogate, or an id that is empty, longer
 * than 256 characters, `.`/`..` or not printable. It is refused where it enters.
 *
 * @since 0.1.0
 */
export class SerializationError extends Schema.TaggedError<SerializationError>("@multirun/core/SerializationError")(
  "SerializationError",
  {
    path: Schema.String,
    found: Schema.String,
    detail: Schema.optional(Schema.String),
    /** @since 0.3.0 */
    reason: Schema.optional(Schema.Literal("NotJson", "Unstorable"))
  }
) {
  override get message(): string {
    if (this.reason === "Unstorable") {
      return `${this.path} cannot be stored (found ${this.found})${this.detail ? `: ${this.detail}` : ""}.`
    }
    return `${this.path} is not JSON (found ${this.found})${this.detail ? `: ${this.detail}` : ""}. ` +
      `Pass plain JSON values (objects, arrays, strings, finite numbers, booleans, null), ` +
      `or give the step an \`inputSchema\`/\`output\` schema that encodes this value.`
  }
}

/**
 * Why a checkpoint could not be used.
 *
 * @since 0.1.0
 */
export const CheckpointErrorReason = Schema.Literal(
  "NotFound",
  "WrongRun",
  "Corrupt",
  "Unavailable",
  "Conflict",
  "TooLarge"
)

/**
 * @since 0.1.0
 */
export type CheckpointErrorReason = typeof CheckpointErrorReason.Type

/**
 * A checkpoint could not be saved or restored: it does not exist (`NotFound`), belongs to
 * another run (`WrongRun`), its stored payload does not decode (`Corrupt`), the backend could
 * not provide it (`Unavailable`), or another writer saved a checkpoint of the same run first
 * (`Conflict`, the optimistic version check), or (since 0.3) it is larger than the run's
 * `maxValueSize` in UTF-8 bytes (`TooLarge`: refused before anything is sent, its version is
 * not used).
 *
 * @since 0.1.0
 */
export class CheckpointError extends Schema.TaggedError<CheckpointError>("@multirun/core/CheckpointError")(
  "CheckpointError",
  {
    reason: CheckpointErrorReason,
    checkpointId: Schema.optional(Schema.String),
    runId: Schema.optional(Schema.String),
    detail: Schema.String
  }
) {
  override get message(): string {
    const where = [
      this.checkpointId === undefined ? undefined : `checkpoint ${this.checkpointId}`,
      this.runId === undefined ? undefined : `run ${this.runId}`
    ].filter((s) => s !== undefined).join(", ")
    return `CheckpointError(${this.reason})${where ? ` for ${where}` : ""}: ${this.detail}`
  }
}

/**
 * Why replay could not use a recorded result.
 *
 * @since 0.1.0
 */
export const ReplayErrorReason = Schema.Literal("Decode", "InputChanged", "Redacted")

/**
 * @since 0.1.0
 */
export type ReplayErrorReason = typeof ReplayErrorReason.Type

/**
 * Replay could not use what was recorded: a recorded output or state value no longer decodes
 * with the schema in the code (`Decode`), or a step was called with an input different from
 * the recorded one (`InputChanged`, drift), or the recorded output was redacted so replay cannot
 * return the original (`Redacted`, under `onRedactedReplay: "fail"`). For drift,
 * `expectedHash`/`actualHash` are the recorded and the current input hash and `path` the JSON
 * path of the first difference.
 *
 * @since 0.1.0
 */
export class ReplayError extends Schema.TaggedError<ReplayError>("@multirun/core/ReplayError")("ReplayError", {
  reason: ReplayErrorReason,
  stepName: Schema.String,
  agentName: Schema.optional(Schema.String),
  expectedHash: Schema.optional(Schema.String),
  actualHash: Schema.optional(Schema.String),
  path: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    const where = this.agentName === undefined ? `"${this.stepName}"` : `"${this.stepName}" of agent "${this.agentName}"`
    if (this.reason === "InputChanged") {
      return `ReplayError(InputChanged): step ${where} was recorded with input ${this.expectedHash} ` +
        `but is now called with ${this.actualHash}; first difference at ${this.path ?? "input"}. ${this.detail}`
    }
    if (this.reason === "Redacted") {
      return `ReplayError(Redacted): the recorded output of step ${where} was redacted: ${this.detail}`
    }
    return `ReplayError(Decode): recorded value of ${where} does not decode: ${this.detail}`
  }
}

/**
 * Why a backend failed, when it is known:
 *
 * - `DiskFull`: the store's disk has no room left (SQLite `SQLITE_FULL`, PostgreSQL `53100`);
 * - `ConnectionLost`: the connection to the database or the server broke;
 * - `Unreachable`: the server could not be reached at all;
 * - `Unauthorized`: the server refused the API key;
 * - `Rejected`: the backend refused a record as invalid (it will not be retried);
 * - `Corrupt`: stored data does not decode;
 * - `ReadOnly`: the store cannot be written;
 * - `Timeout`: pending writes passed their deadline;
 * - `Fenced`: the writer no longer owns the run: another process took its lease over, so the
 *   write was refused (it would have mixed two executions of the run);
 * - `Defect`: the backend's code died unexpectedly (a bug or an unknown condition).
 *
 * @since 0.2.0
 */
export const BackendErrorReason = Schema.Literal(
  "DiskFull",
  "ConnectionLost",
  "Unreachable",
  "Unauthorized",
  "Rejected",
  "Corrupt",
  "ReadOnly",
  "Timeout",
  "Fenced",
  "Defect"
)

/** @since 0.2.0 */
export type BackendErrorReason = typeof BackendErrorReason.Type

/**
 * A backend (memory, SQLite, PostgreSQL, remote server) failed to read or write.
 *
 * @since 0.1.0
 */
export class BackendError extends Schema.TaggedError<BackendError>("@multirun/core/BackendError")("BackendError", {
  operation: Schema.String,
  detail: Schema.String,
  reason: Schema.optional(BackendErrorReason),
  /** The file, host or URL of the backend. */
  location: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const reason = this.reason === undefined ? "" : `(${this.reason})`
    const where = this.location === undefined ? "" : ` at ${this.location}`
    return `BackendError${reason} during ${this.operation}${where}: ${this.detail}`
  }
}

/**
 * Why a run could not be owned by this process.
 *
 * @since 0.2.0
 */
export const RunErrorReason = Schema.Literal("Locked", "Fenced", "Completed", "Ended", "InvalidLease", "NotFound")

/** @since 0.2.0 */
export type RunErrorReason = typeof RunErrorReason.Type

/**
 * A run has one owner at a time (a lease, see the `Lease` module). `Locked`: another live
 * process owns the run, so this one may not resume it (`holder` says since when and until when
 * it holds it). `Fenced`: this process owned the run, but its lease lapsed and another process
 * took the run over; this process must stop writing to it. `Completed`: the run completed, so it
 * cannot be resumed (fork one of its checkpoints to run again). `Ended`: a step was called for a
 * run or an agent that has already ended (a fork or finalizer that outlived it). `InvalidLease`: a
 * lease asked for a time to live out of bounds. `NotFound`: a lease asked for a run the store
 * does not hold.
 *
 * @since 0.2.0
 */
export class RunError extends Schema.TaggedError<RunError>("@multirun/core/RunError")("RunError", {
  reason: RunErrorReason,
  runId: Schema.String,
  /** The lease holder's owner token, start and expiry (epoch milliseconds), when known. */
  holder: Schema.optional(Schema.Struct({
    owner: Schema.String,
    acquiredAt: Schema.Number,
    expiresAt: Schema.Number
  })),
  detail: Schema.String
}) {
  override get message(): string {
    const holder = this.holder === undefined
      ? ""
      : ` (held by ${this.holder.owner} since ${new Date(this.holder.acquiredAt).toISOString()}, ` +
        `lease until ${new Date(this.holder.expiresAt).toISOString()})`
    return `RunError(${this.reason}) for run ${this.runId}${holder}: ${this.detail}`
  }
}

/**
 * `currentRun` was asked outside `withRun`.
 *
 * @since 0.1.0
 */
export class NoActiveRun extends Schema.TaggedError<NoActiveRun>("@multirun/core/NoActiveRun")("NoActiveRun", {}) {
  override get message(): string {
    return "No active run: wrap the program in `withRun(...)` or provide `RunContext.layer(...)`."
  }
}

/**
 * `currentAgent` was asked outside `withAgent`.
 *
 * @since 0.1.0
 */
export class NoActiveAgent extends Schema.TaggedError<NoActiveAgent>("@multirun/core/NoActiveAgent")(
  "NoActiveAgent",
  {}
) {
  override get message(): string {
    return "No active agent: wrap the code in `withAgent(...)`."
  }
}

/**
 * `currentClient` was asked where no backend layer is provided.
 *
 * @since 0.1.0
 */
export class NoActiveClient extends Schema.TaggedError<NoActiveClient>("@multirun/core/NoActiveClient")(
  "NoActiveClient",
  {}
) {
  override get message(): string {
    return "No multirun backend: provide `Memory.layer`, `Sqlite.layer(...)`, `Pg.layer(...)` or `Remote.layer(...)`."
  }
}
