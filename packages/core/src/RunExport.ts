/**
 * A run as versioned JSON lines: one run with its agents, steps and checkpoints, read from any
 * backend and written into any backend, idempotently. The format of `multirun export`,
 * `multirun import` and `multirun push`.
 *
 * The first line is a header, every other line one record with its kind:
 *
 * ```jsonl
 * {"format":"multirun.run","version":1,"runId":"…","counts":{"agents":2,"steps":9,"checkpoints":2}}
 * {"kind":"run","record":{…}}
 * {"kind":"agent","record":{…}}
 * {"kind":"step","record":{…}}
 * {"kind":"checkpoint","record":{…}}
 * ```
 *
 * Records are the encoded (stored, wire) records of `Run`, `Agent`, `Step` and `Checkpoint`,
 * written as canonical JSON (keys sorted), so a run exported from SQLite, PostgreSQL or a
 * server gives the same bytes.
 *
 * @since 0.2.0
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import type * as Agent from "./Agent.js"
import * as Checkpoint from "./Checkpoint.js"
import type { BackendError, CheckpointError } from "./Errors.js"
import { AgentRecord, RunRecord, StepRecord } from "./Event.js"
import { canonicalJson, firstDifference } from "./internal/canonical.js"
import type { MultiRunClientService } from "./MultiRunClient.js"
import type * as Run from "./Run.js"
import type * as Step from "./StepRecord.js"

/**
 * The `format` of the header line.
 *
 * @since 0.2.0
 */
export const format = "multirun.run"

/**
 * The version of the format this multirun writes and reads.
 *
 * @since 0.2.0
 */
export const version = 1

/**
 * The first line of an export: the format, its version, the run and how many records of each
 * kind follow (so a truncated file is detected).
 *
 * @since 0.2.0
 */
export const Header = Schema.Struct({
  format: Schema.Literal(format),
  version: Schema.Literal(version),
  runId: Schema.String,
  counts: Schema.Struct({ agents: Schema.NonNegativeInt, steps: Schema.NonNegativeInt, checkpoints: Schema.NonNegativeInt })
})

/** @since 0.2.0 */
export type Header = typeof Header.Type

/** A checkpoint as stored and sent over the wire, refinements checked. */
const CheckpointRecord = Schema.encodedBoundSchema(Checkpoint.Checkpoint)

/**
 * One record line after the header.
 *
 * @since 0.2.0
 */
export const Line = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("run"), record: RunRecord }),
  Schema.Struct({ kind: Schema.Literal("agent"), record: AgentRecord }),
  Schema.Struct({ kind: Schema.Literal("step"), record: StepRecord }),
  Schema.Struct({ kind: Schema.Literal("checkpoint"), record: CheckpointRecord })
)

/** @since 0.2.0 */
export type Line = typeof Line.Type

/**
 * One run with everything recorded about it: agents, steps ordered by `seq`, checkpoints ordered
 * by `version`.
 *
 * @since 0.2.0
 */
export interface RunData {
  readonly run: Run.Encoded
  readonly agents: ReadonlyArray<Agent.Encoded>
  readonly steps: ReadonlyArray<Step.Encoded>
  readonly checkpoints: ReadonlyArray<Checkpoint.Encoded>
}

/**
 * Why an export could not be imported:
 *
 * - `NotJson`: a line is not JSON;
 * - `NotAnExport`: the file does not start with a `multirun.run` header;
 * - `UnknownVersion`: the header's version is not one this multirun reads;
 * - `Invalid`: a line does not decode as a record, or belongs to another run;
 * - `Incomplete`: the file holds fewer or more records than its header announces (truncated);
 * - `Conflict`: the target already holds a different checkpoint with the same id or version.
 *
 * @since 0.2.0
 */
export const ImportErrorReason = Schema.Literal("NotJson", "NotAnExport", "UnknownVersion", "Invalid", "Incomplete", "Conflict")

/** @since 0.2.0 */
export type ImportErrorReason = typeof ImportErrorReason.Type

/**
 * An export could not be imported. `line` (from 1) is the line at fault when the fault is in the
 * file (not for `Conflict`, which is about what the target stores).
 *
 * @since 0.2.0
 */
export class ImportError extends Schema.TaggedError<ImportError>("@multirun/core/ImportError")("ImportError", {
  reason: ImportErrorReason,
  line: Schema.optional(Schema.Int),
  detail: Schema.String
}) {
  override get message(): string {
    return this.line === undefined ? this.detail : `line ${this.line}: ${this.detail}`
  }
}

/** The canonical JSON of a stored record (stored records are JSON: anything else is a defect). */
const canonical = (value: unknown): string => {
  const text = canonicalJson(value, "record")
  if (typeof text !== "string") throw text
  return text
}

/**
 * Reads a run and everything recorded about it from a backend; `None` when the backend has no
 * run with this id.
 *
 * @since 0.2.0
 */
export const read = (
  client: MultiRunClientService,
  runId: string
): Effect.Effect<Option.Option<RunData>, BackendError | CheckpointError> =>
  Effect.flatMap(client.getRun(runId), (run) =>
    Option.isNone(run) ? Effect.succeedNone : Effect.map(
      Effect.all([client.listAgents(runId), client.listSteps(runId), client.listCheckpoints(runId)]),
      ([agents, steps, checkpoints]) => Option.some({ run: run.value, agents, steps, checkpoints })
    ))

/**
 * The JSON lines of a run: the header, the run, its agents, steps and checkpoints, each line
 * ending with a newline.
 *
 * @since 0.2.0
 */
export const encode = (data: RunData): string => {
  const header: Header = {
    format,
    version,
    runId: data.run.id,
    counts: { agents: data.agents.length, steps: data.steps.length, checkpoints: data.checkpoints.length }
  }
  const lines = [
    JSON.stringify(header),
    `{"kind":"run","record":${canonical(data.run)}}`,
    ...data.agents.map((agent) => `{"kind":"agent","record":${canonical(agent)}}`),
    ...data.steps.map((step) => `{"kind":"step","record":${canonical(step)}}`),
    ...data.checkpoints.map((checkpoint) => `{"kind":"checkpoint","record":${canonical(checkpoint)}}`)
  ]
  return lines.join("\n") + "\n"
}

const decodeHeader = Schema.decodeUnknownEither(Header)
const decodeLine = Schema.decodeUnknownEither(Line)

const formatError = (error: ParseResult.ParseError) => ParseResult.TreeFormatter.formatErrorSync(error).replace(/\s+/g, " ")

/**
 * Decodes the JSON lines of an export (blank lines are skipped). Fails with an
 * {@link ImportError} naming the first line at fault; nothing is written by decoding.
 *
 * @since 0.2.0
 */
export const decode = (text: string): Effect.Effect<RunData, ImportError> =>
  Effect.suspend(() => {
    const fail = (reason: ImportErrorReason, line: number, detail: string) =>
      Effect.fail(new ImportError({ reason, line, detail }))
    const lines = text.split("\n")
    let header: Header | undefined
    let run: Run.Encoded | undefined
    const agents: Array<Agent.Encoded> = []
    const steps: Array<Step.Encoded> = []
    const checkpoints: Array<Checkpoint.Encoded> = []
    let last = 0
    for (let i = 0; i < lines.length; i++) {
      const number = i + 1
      const source = lines[i]!.trim()
      if (source === "") continue
      last = number
      let json: unknown
      try {
        json = JSON.parse(source)
      } catch (error) {
        return fail("NotJson", number, `not JSON (${(error as Error).message}); an export has one JSON value per line`)
      }
      if (header === undefined) {
        const found = json as { readonly format?: unknown; readonly version?: unknown } | null
        if (typeof found !== "object" || found === null || found.format !== format) {
          return fail(
            "NotAnExport",
            number,
            `not a multirun run export: the first line must be a header {"format":"${format}","version":${version},…}`
          )
        }
        if (found.version !== version) {
          return fail(
            "UnknownVersion",
            number,
            `export format version ${JSON.stringify(found.version)} is not known to this multirun, ` +
              `which reads version ${version}; import the file with the multirun that wrote it or a newer one`
          )
        }
        const decoded = decodeHeader(json)
        if (Either.isLeft(decoded)) return fail("Invalid", number, `the header does not decode: ${formatError(decoded.left)}`)
        header = decoded.right
        continue
      }
      const decoded = decodeLine(json)
      if (Either.isLeft(decoded)) return fail("Invalid", number, `the record does not decode: ${formatError(decoded.left)}`)
      const { kind, record } = decoded.right
      const runId = kind === "run" ? record.id : record.runId
      if (runId !== header.runId) {
        return fail("Invalid", number, `this ${kind} belongs to run ${runId}, but the file is the export of run ${header.runId}`)
      }
      switch (kind) {
        case "run":
          if (run !== undefined) return fail("Invalid", number, `a second run record for run ${runId}`)
          run = record
          break
        case "agent":
          agents.push(record)
          break
        case "step":
          steps.push(record)
          break
        case "checkpoint":
          checkpoints.push(record)
          break
      }
    }
    if (header === undefined) return fail("NotAnExport", 1, "the file is empty; an export starts with a header line")
    const { counts } = header
    if (run === undefined || agents.length !== counts.agents || steps.length !== counts.steps || checkpoints.length !== counts.checkpoints) {
      return fail(
        "Incomplete",
        last,
        `the header announces 1 run, ${counts.agents} agents, ${counts.steps} steps and ${counts.checkpoints} checkpoints, ` +
          `the file holds ${run === undefined ? 0 : 1}, ${agents.length}, ${steps.length} and ${checkpoints.length} ` +
          `(truncated or edited?); export the run again`
      )
    }
    return Effect.succeed({
      run,
      agents,
      steps: steps.sort((a, b) => a.seq - b.seq),
      checkpoints: checkpoints.sort((a, b) => a.version - b.version)
    })
  })

/**
 * How many records of a kind an import held and how many it wrote (the others were stored
 * already).
 *
 * @since 0.2.0
 */
export interface Counts {
  readonly records: number
  readonly written: number
}

/**
 * What {@link write} did, per kind of record.
 *
 * @since 0.2.0
 */
export interface Summary {
  readonly runId: string
  readonly runs: Counts
  readonly agents: Counts
  readonly steps: Counts
  readonly checkpoints: Counts
}

/**
 * Whether the stored run or agent went further than the one given: it has more steps, or it
 * ended while the given one had not (a run resumed in the target after it was pushed).
 */
const storedIsAhead = (stored: Run.Encoded | Agent.Encoded, given: Run.Encoded | Agent.Encoded): boolean =>
  stored.stepCount > given.stepCount || (stored.endedAt !== null && given.endedAt === null)

/** Whether a record must be written over what the target stores under its id. */
const needsWrite = <A extends Run.Encoded | Agent.Encoded>(stored: A | undefined, given: A): boolean =>
  stored === undefined || (firstDifference(stored, given, "") !== undefined && !storedIsAhead(stored, given))

/**
 * Writes a run into a backend, idempotently: what the backend already stores is not written
 * again, so importing a run twice stores it once.
 *
 * - The run and its agents are written unless stored as they are, or stored further along
 *   (more steps, or ended): a run resumed in the target is not moved back by a second push.
 * - A step is written once: a step id already stored is left as it is.
 * - A checkpoint already stored with the same id and content is skipped; a different checkpoint
 *   with the same id or the same version fails with `ImportError("Conflict")` before anything is
 *   written.
 *
 * Checkpoints are saved last, in version order, so the target holds their steps first.
 *
 * @since 0.2.0
 */
export const write = (
  client: MultiRunClientService,
  data: RunData
): Effect.Effect<Summary, ImportError | BackendError | CheckpointError> =>
  Effect.gen(function*() {
    const runId = data.run.id
    const stored = yield* read(client, runId)
    const storedAgents = new Map(Option.match(stored, { onNone: () => [], onSome: (s) => s.agents }).map((a) => [a.id, a]))
    const storedSteps = new Set(Option.match(stored, { onNone: () => [], onSome: (s) => s.steps }).map((s) => s.id))
    const storedCheckpoints = Option.match(stored, { onNone: () => [], onSome: (s) => s.checkpoints })
    const newCheckpoints: Array<Checkpoint.Encoded> = []
    for (const checkpoint of data.checkpoints) {
      const same = storedCheckpoints.find((c) => c.id === checkpoint.id || c.version === checkpoint.version)
      if (same === undefined) newCheckpoints.push(checkpoint)
      else if (same.id !== checkpoint.id || firstDifference(same, checkpoint, "checkpoint") !== undefined) {
        return yield* new ImportError({
          reason: "Conflict",
          detail: `run ${runId} already stores checkpoint ${same.id} (version ${same.version}), which differs from ` +
            `checkpoint ${checkpoint.id} (version ${checkpoint.version}) of this export: the run went on differently ` +
            `in the two stores, so nothing was imported; import it into another store or delete the run there first`
        })
      }
    }
    const runs = needsWrite(Option.getOrUndefined(Option.map(stored, (s) => s.run)), data.run) ? [data.run] : []
    const agents = data.agents.filter((agent) => needsWrite(storedAgents.get(agent.id), agent))
    const steps = data.steps.filter((step) => !storedSteps.has(step.id))
    yield* Effect.forEach(runs, client.writeRun, { discard: true })
    yield* Effect.forEach(agents, client.writeAgent, { discard: true })
    yield* Effect.forEach(steps, client.writeStep, { discard: true })
    yield* client.flush
    yield* Effect.forEach(newCheckpoints, client.saveCheckpoint, { discard: true })
    const counts = (records: ReadonlyArray<unknown>, written: ReadonlyArray<unknown>): Counts => ({
      records: records.length,
      written: written.length
    })
    return {
      runId,
      runs: counts([data.run], runs),
      agents: counts(data.agents, agents),
      steps: counts(data.steps, steps),
      checkpoints: counts(data.checkpoints, newCheckpoints)
    }
  })
