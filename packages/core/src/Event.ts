/**
 * Write events: what a buffered backend writer sends in one batch (to a database transaction or
 * to the server's ingest endpoint). The one definition of a write, used by every backend and
 * the server.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { randomUUID } from "node:crypto"
import * as Agent from "./Agent.js"
import type { SerializationError } from "./Errors.js"
import { canonicalJson } from "./internal/canonical.js"
import { checkId, checkText } from "./internal/storable.js"
import * as Run from "./Run.js"
import * as Step from "./StepRecord.js"

/** A run as stored and sent over the wire, refinements (integer seq, brands) checked. @since 0.1.0 */
export const RunRecord = Schema.encodedBoundSchema(Run.Run)
/** An agent as stored and sent over the wire. @since 0.1.0 */
export const AgentRecord = Schema.encodedBoundSchema(Agent.Agent)
/** A step as stored and sent over the wire. @since 0.1.0 */
export const StepRecord = Schema.encodedBoundSchema(Step.Step)

/** The lease epoch of the writer (see `Lease`): a backend refuses the event once a newer owner holds the run. */
const epoch = Schema.optional(Schema.Int)

/**
 * A run record written (upsert by run id).
 *
 * @since 0.1.0
 */
export class RunWritten extends Schema.TaggedClass<RunWritten>("@multirun/core/RunWritten")("RunWritten", {
  eventId: Schema.String,
  run: RunRecord,
  epoch
}) {}

/**
 * An agent record written (upsert by agent id).
 *
 * @since 0.1.0
 */
export class AgentWritten extends Schema.TaggedClass<AgentWritten>("@multirun/core/AgentWritten")("AgentWritten", {
  eventId: Schema.String,
  agent: AgentRecord,
  epoch
}) {}

/**
 * A step record written (a step is written once, when it ends; a repeat is ignored).
 *
 * @since 0.1.0
 */
export class StepWritten extends Schema.TaggedClass<StepWritten>("@multirun/core/StepWritten")("StepWritten", {
  eventId: Schema.String,
  step: StepRecord,
  epoch
}) {}

/**
 * The event of a run record written, with a new event id.
 *
 * @since 0.2.0
 */
export const runWritten = (run: Run.Encoded, epoch?: number): RunWritten =>
  new RunWritten({ eventId: randomUUID(), run, epoch }, true)

/**
 * The event of an agent record written, with a new event id.
 *
 * @since 0.2.0
 */
export const agentWritten = (agent: Agent.Encoded, epoch?: number): AgentWritten =>
  new AgentWritten({ eventId: randomUUID(), agent, epoch }, true)

/**
 * The event of a step record written, with a new event id. Made once per step: the fields are set
 * on an instance of the class directly (the same own properties the constructor sets, checks off
 * as above), about 7x cheaper than the class constructor, which merges defaults field by field.
 *
 * @since 0.2.0
 */
export const stepWritten = (step: Step.Encoded, epoch?: number): StepWritten =>
  // in the constructor's order, so the event's JSON is the same too
  Object.assign(Object.create(StepWritten.prototype) as StepWritten, {
    eventId: randomUUID(),
    step,
    epoch,
    _tag: "StepWritten" as const
  })

/**
 * The fields of a write event that a backend writes: an event without its id and class, which a
 * backend that writes its own buffer can make per record for less than an event.
 *
 * @since 0.2.0
 */
export type Write =
  | { readonly _tag: "RunWritten"; readonly run: Run.Encoded; readonly epoch?: number | undefined }
  | { readonly _tag: "AgentWritten"; readonly agent: Agent.Encoded; readonly epoch?: number | undefined }
  | { readonly _tag: "StepWritten"; readonly step: Step.Encoded; readonly epoch?: number | undefined }

/**
 * The run an event belongs to.
 *
 * @since 0.2.0
 */
export const runIdOf = (event: Write): string =>
  event._tag === "RunWritten" ? event.run.id : event._tag === "AgentWritten" ? event.agent.runId : event.step.runId

/** `checkId` of an id that may be absent. */
const optionalId = (id: string | null | undefined, path: string): SerializationError | undefined =>
  id == null ? undefined : checkId(id, path)

/** `checkText` of a text that may be absent. */
const optionalText = (text: string | null | undefined, path: string): SerializationError | undefined =>
  text == null ? undefined : checkText(text, path)

/** A JSON value (metadata, tags) whose texts and keys a backend can store, or why it is not one. */
const storableJson = (value: unknown, path: string): SerializationError | undefined => {
  const text = canonicalJson(value, path)
  return typeof text === "string" ? undefined : text
}

/**
 * Why no backend can store a write, or `undefined` when every backend can: an id that is empty,
 * longer than 256 characters, `.`/`..` or not printable, or a name, tag, metadata text or key,
 * or recorded value holding U+0000 or a lone surrogate (PostgreSQL refuses the first, UTF-8
 * cannot encode the second). The same checks a run, agent or step call makes where values enter;
 * the server answers such an event `rejected` with this error's message.
 *
 * @since 0.3.0
 */
export const unstorable = (event: Write): SerializationError | undefined => {
  switch (event._tag) {
    case "RunWritten": {
      const run = event.run
      return checkId(run.id, "run.id") ?? optionalId(run.parentRunId, "run.parentRunId") ??
        optionalId(run.forkedFrom, "run.forkedFrom") ?? checkText(run.name, "run.name") ??
        storableJson(run.tags, "run.tags") ?? storableJson(run.metadata, "run.metadata") ??
        optionalText(run.result, "run.result")
    }
    case "AgentWritten": {
      const agent = event.agent
      return checkId(agent.id, "agent.id") ?? checkId(agent.runId, "agent.runId") ??
        checkText(agent.name, "agent.name") ?? optionalText(agent.agentConfigId, "agent.agentConfigId") ??
        storableJson(agent.metadata, "agent.metadata") ?? optionalText(agent.result, "agent.result")
    }
    case "StepWritten": {
      const step = event.step
      return checkId(step.id, "step.id") ?? checkId(step.runId, "step.runId") ?? checkId(step.agentId, "step.agentId") ??
        optionalId(step.parentId, "step.parentId") ?? checkText(step.name, "step.name") ??
        checkText(step.input, "step.input") ?? optionalText(step.output, "step.output") ??
        optionalText(step.model, "step.model")
    }
  }
}

/**
 * One write event.
 *
 * @since 0.1.0
 */
export const Event = Schema.Union(RunWritten, AgentWritten, StepWritten)

/** @since 0.1.0 */
export type Event = typeof Event.Type

/**
 * A batch of events with a client-generated id: a batch retried with the same id is stored once.
 *
 * @since 0.1.0
 */
export class Batch extends Schema.Class<Batch>("@multirun/core/Batch")({
  batchId: Schema.String,
  events: Schema.Array(Event)
}) {}
