/**
 * The schemas of the run viewer's reads in the HTTP API (`Api.RunsGroup`'s list, `Api.ViewsGroup`):
 * the runs filter and its cursor, the step filter, steps paging and summaries. Re-exported by `Api`.
 */
import { Schema } from "effect"
import { StepRecord } from "../Event.js"
import * as Run from "../Run.js"
import { StepKind } from "../StepRecord.js"

/**
 * `Run.RunFilter` as the URL parameters of `GET /api/runs` (`?status=failed&tag=nightly&limit=20`):
 * the same fields, with `limit` parsed from its text, plus the viewer's `search` and `cursor`.
 *
 * @since 0.1.0
 */
export const RunFilterParams = Schema.Struct({
  ...Run.RunFilter.fields,
  limit: Schema.optional(Schema.compose(Schema.NumberFromString, Run.RunFilter.fields.limit.from)),
  /** Runs whose name contains this text (any case) or that carry it as a tag. */
  search: Schema.optional(Schema.String),
  /** The page after this cursor: `runsCursor(lastRunOfThePreviousPage)`. */
  cursor: Schema.optional(Schema.String)
})

/**
 * The cursor of the page of runs after `run` in `GET /api/runs` (newest first):
 * `startedAt:id` of the last run of a page.
 *
 * @since 0.2.0
 */
export const runsCursor = (run: { readonly startedAt: number; readonly id: string }): string =>
  `${run.startedAt}:${run.id}`

/** Reads a cursor made by {@link runsCursor}; `undefined` when it is not one. @since 0.2.0 */
export const parseRunsCursor = (cursor: string): { readonly startedAt: number; readonly id: string } | undefined => {
  const at = cursor.indexOf(":")
  const startedAt = Number(cursor.slice(0, at))
  return at <= 0 || !Number.isFinite(startedAt) ? undefined : { startedAt, id: cursor.slice(at + 1) }
}

/**
 * What a step filter's `status` matches: a step's own status, `replayed` (returned by a resume
 * instead of executing, see `Run.Replay`, or recorded as replayed) or `drifted` (its input
 * changed against the recorded call). @since 0.3.0
 */
export const StepStatusFilter = Schema.Literal("running", "completed", "failed", "interrupted", "replayed", "drifted")

/** @since 0.3.0 */
export type StepStatusFilter = typeof StepStatusFilter.Type

/** A URL parameter of a filter, refused with one message that names it and what it takes. */
const filterParam = <S extends Schema.Schema.Any>(field: string, takes: string, schema: S) =>
  Schema.optional(schema.annotations({ message: () => ({ message: `${field} must be ${takes}`, override: true }) }))
const filterText = (field: string) =>
  filterParam(field, "1 to 200 characters", Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))

/**
 * A filter of a run's steps (`?agent=writer&kind=llm_call&status=failed&name=plan&text=timeout`),
 * each field optional, all required of a step: its agent's name, kind, {@link StepStatusFilter},
 * text in its name, text in its input, output or error (any case). @since 0.3.0
 */
export const StepFilter = Schema.Struct({
  agent: filterText("agent"),
  kind: filterParam("kind", `one of ${StepKind.literals.join(", ")}`, StepKind),
  status: filterParam("status", `one of ${StepStatusFilter.literals.join(", ")}`, StepStatusFilter),
  name: filterText("name"),
  text: filterText("text")
})

/** @since 0.3.0 */
export type StepFilter = typeof StepFilter.Type

/**
 * Paging of a run's steps by `seq` (`?afterSeq=99&limit=100`): the steps after `afterSeq`
 * (from the first when absent), at most `limit` (all when absent); since 0.3 those {@link StepFilter} keeps.
 *
 * @since 0.2.0
 */
export const StepsPageParams = Schema.Struct({
  afterSeq: Schema.optional(Schema.NumberFromString.pipe(Schema.int())),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 10_000))),
  ...StepFilter.fields
})

/**
 * A step without its `input` and `output`: what a timeline needs of a step, small enough to
 * page through a run of 100,000 steps.
 *
 * @since 0.2.0
 */
export const StepSummary = StepRecord.pipe(Schema.omit("input", "output"))

/** @since 0.2.0 */
export type StepSummary = typeof StepSummary.Type
