/**
 * The compact step row (schema version 4, with the parent step and the drift mark since 5, the
 * call's occurrence and the records replayed inside it since 6): one
 * column per field, no JSON record. UUIDs are
 * 16-byte blobs, the SHA-256 input hash 32 bytes, kind and status small integers, `replayed`
 * and whether `model` is absent bits of `flags`. In SQLite the table has no rowid: rows are
 * stored in the order of their key (run, then seq). The table is made by the frozen migrations
 * 4 to 6 (`internal/migrations`): a change to this layout is a new migration, never an edit of
 * those.
 */
import type * as Step from "@multirun/core/Step"

/** Step kinds and statuses by their stored code (append only: the codes are on disk). */
const kinds = ["llm_call", "tool_call", "retrieval", "function", "handoff", "custom"] as const
const statuses = ["running", "completed", "failed", "interrupted"] as const
const kindCodes = new Map<unknown, number>(kinds.map((kind, code) => [kind, code]))
const statusCodes = new Map<unknown, number>(statuses.map((status, code) => [status, code]))

/** The stored code of a step kind or status (undefined for any other value). */
export const kindCode = (kind: string): number | undefined => kindCodes.get(kind)
/** @see kindCode */
export const statusCode = (status: string): number | undefined => statusCodes.get(status)

/** The bit of `flags` set on a step recorded as replayed. */
export const replayedFlag = 1
const noModelFlag = 2

/** The value of each lowercase hex digit by its character code, -1 for any other ASCII character. */
const hexDigits = new Int8Array(128).fill(-1)
for (let digit = 0; digit < 16; digit++) hexDigits[digit.toString(16).charCodeAt(0)] = digit

/** Positions of the dashes of a UUID's 36 characters. */
const isUuidDash = (at: number): boolean => at === 8 || at === 13 || at === 18 || at === 23

/**
 * The `length` bytes written as lowercase hex in `text` (as a UUID, with its dashes, when
 * `dashed`), or null when `text` is not exactly that. One pass that checks and decodes, for the
 * ids and hashes of every step row (a regular expression then `Buffer.from(hex)` costs ~3x more).
 */
const packedHex = (text: string, length: number, dashed: boolean): Buffer | null => {
  if (text.length !== (dashed ? length * 2 + 4 : length * 2)) return null
  const bytes = Buffer.allocUnsafe(length)
  for (let at = 0, byte = 0; byte < length; byte++, at += 2) {
    if (dashed && isUuidDash(at)) {
      if (text.charCodeAt(at) !== 45) return null
      at++
    }
    const high = text.charCodeAt(at)
    const low = text.charCodeAt(at + 1)
    const value = high < 128 && low < 128 ? (hexDigits[high]! << 4) | hexDigits[low]! : -1
    if (value < 0) return null
    bytes[byte] = value
  }
  return bytes
}

/**
 * Text that is not in the packed form: its UTF-8 bytes then 0xFF (a byte UTF-8 never holds),
 * and one more 0xFF when that is exactly the packed length, so the length tells the forms apart.
 */
const textBytes = (text: string, packedLength: number): Buffer => {
  const bytes = Buffer.from(text, "utf8")
  return Buffer.concat([bytes, bytes.length + 1 === packedLength ? Buffer.of(0xff, 0xff) : Buffer.of(0xff)])
}

/** The text of a value stored by {@link textBytes}, given as hex; null when it is not in that form. */
const textOfHex = (hex: string): string | null => {
  const bytes = Buffer.from(hex, "hex")
  let end = bytes.length
  if (end === 0 || bytes[end - 1] !== 0xff) return null
  while (end > 0 && bytes[end - 1] === 0xff) end--
  return bytes.toString("utf8", 0, end)
}

/** An id as stored: a lowercase UUID in 16 bytes, any other text as {@link textBytes}. */
export const idBytes = (id: string | undefined): Buffer | null =>
  id === undefined ? null : packedHex(id, 16, true) ?? textBytes(id, 16)

const hashBytes = (hash: string | undefined): Buffer | null =>
  hash === undefined ? null : packedHex(hash, 32, false) ?? textBytes(hash, 32)

/**
 * The id of a stored value read as lowercase hex (bytes are read as hex: better-sqlite3 and pg
 * make a `Buffer` per blob, which costs more than the text). A value that is not hex of a stored
 * id is returned as null or as it is, for the schema to refuse.
 */
export const idOfHex = (hex: unknown): unknown =>
  typeof hex !== "string"
    ? hex
    : hex.length === 32
    ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    : textOfHex(hex)

const hashOfHex = (hex: unknown): unknown => typeof hex !== "string" || hex.length === 64 ? hex : textOfHex(hex)

/**
 * `f` remembering its last argument and result: the steps of a run, written and read together,
 * share their run id, mostly their agent id and often their input hash.
 */
const lastOf = <A, B>(f: (a: A) => B) => {
  let last: { readonly a: A; readonly b: B } | undefined
  return (a: A): B => last !== undefined && last.a === a ? last.b : (last = { a, b: f(a) }).b
}
const runIdOfHex = lastOf(idOfHex)
const agentIdOfHex = lastOf(idOfHex)
const runIdBytes = lastOf(idBytes)
const agentIdBytes = lastOf(idBytes)
const inputHashBytes = lastOf(hashBytes)

/** The columns of a step row, `project` first, in the order {@link bindStep} binds them. */
export const stepWriteColumns = [
  "project",
  "id",
  "run_id",
  "seq",
  "agent_id",
  "name",
  "kind",
  "status",
  "flags",
  "input_hash",
  "input",
  "output",
  "error",
  "started_at",
  "ended_at",
  "latency_ms",
  "tokens_used",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "reasoning_tokens",
  "cost_usd",
  "model",
  "parent_id",
  "drift",
  "occurrence",
  "replayed_inside"
] as const

const byteColumns = new Set(["id", "run_id", "agent_id", "input_hash", "parent_id"])

/**
 * The columns a step is read from (all but `project`), in the order {@link stepOfRow} expects:
 * bytes as lowercase hex (NULL stays NULL), and with `summary` the input and output as NULL.
 */
export const stepColumns = (dialect: "pg" | "sqlite", summary = false): string =>
  stepWriteColumns.slice(1).map((column) =>
    summary && (column === "input" || column === "output")
      ? "NULL"
      : !byteColumns.has(column)
      ? column
      : dialect === "pg"
      ? `encode(${column}, 'hex')`
      : `lower(nullif(hex(${column}), ''))`
  ).join(", ")

/**
 * Appends the row of `step` to a statement's parameters, in {@link stepWriteColumns} order.
 * Fields it lacks become NULL (a step of an older, corrupt row then reads back as corrupt).
 */
export const bindStep = (params: Array<unknown>, project: string, step: Partial<Step.Encoded>): void => {
  params.push(
    project,
    idBytes(step.id),
    runIdBytes(step.runId),
    step.seq,
    agentIdBytes(step.agentId),
    step.name ?? null,
    kindCodes.get(step.kind) ?? null,
    statusCodes.get(step.status) ?? null,
    (step.replayed === true ? replayedFlag : 0) | (step.model === undefined ? noModelFlag : 0),
    inputHashBytes(step.inputHash),
    step.input ?? null,
    step.output ?? null,
    step.error == null ? null : JSON.stringify(step.error),
    step.startedAt ?? null,
    step.endedAt ?? null,
    step.latencyMs ?? null,
    step.tokensUsed ?? null,
    step.inputTokens ?? null,
    step.outputTokens ?? null,
    step.cachedInputTokens ?? null,
    step.reasoningTokens ?? null,
    step.costUsd ?? null,
    step.model ?? null,
    step.parentId == null ? null : idBytes(step.parentId),
    step.drift ?? null,
    step.occurrence ?? null,
    step.replayedInside === undefined || step.replayedInside.length === 0 ? null : JSON.stringify(step.replayedInside)
  )
}

/**
 * The step of a row read as values of {@link stepColumns}, not yet validated: a stored value out
 * of range (an unknown kind code, a NULL) is passed on as it is for the schema to refuse. Throws
 * when `error` or `replayed_inside` is not JSON.
 */
export const stepOfRow = (row: ReadonlyArray<unknown>): Step.Encoded => {
  const flags = row[7]
  const step: { -readonly [K in keyof Step.Encoded]: unknown } = {
    id: idOfHex(row[0]),
    runId: runIdOfHex(row[1]),
    seq: row[2],
    agentId: agentIdOfHex(row[3]),
    name: row[4],
    kind: kinds[row[5] as number] ?? row[5],
    status: statuses[row[6] as number] ?? row[6],
    inputHash: hashOfHex(row[8]),
    input: row[9],
    output: row[10],
    error: row[11] === null ? null : JSON.parse(row[11] as string),
    startedAt: row[12],
    endedAt: row[13],
    latencyMs: row[14],
    tokensUsed: row[15],
    costUsd: row[20],
    replayed: typeof flags === "number" ? (flags & replayedFlag) !== 0 : flags
  }
  if (row[16] !== null) step.inputTokens = row[16]
  if (row[17] !== null) step.outputTokens = row[17]
  if (row[18] !== null) step.cachedInputTokens = row[18]
  if (row[19] !== null) step.reasoningTokens = row[19]
  if (typeof flags !== "number" || (flags & noModelFlag) === 0) step.model = row[21]
  if (row[22] !== null) step.parentId = idOfHex(row[22])
  if (row[23] !== null) step.drift = row[23]
  if (row[24] !== null) step.occurrence = row[24]
  if (row[25] !== null) step.replayedInside = JSON.parse(row[25] as string)
  return step as Step.Encoded
}

const kindSet = new Set<unknown>(kinds)
const statusSet = new Set<unknown>(statuses)
const isAmount = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value) && value >= 0
const isTime = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value)
const isOptionalText = (value: unknown): boolean => value == null || typeof value === "string"
const isOptionalAmount = (value: unknown): boolean => value === undefined || isAmount(value)
const isRanges = (value: unknown): boolean =>
  value === undefined ||
  (Array.isArray(value) && value.every((range) =>
    Array.isArray(range) && range.length === 2 && Number.isSafeInteger(range[0]) && Number.isSafeInteger(range[1])
  ))

/**
 * Whether a step read by {@link stepOfRow} is plainly a valid record: every field of the type its
 * column holds, no error record. Such a step needs no schema validation (a restore reads every
 * step of a run: the schema costs about 5 µs a step, this check a few dozen ns); any other goes
 * through the schema, which accepts it or names what is wrong. It never accepts a step the schema
 * refuses (`StepRows.test.ts` checks that on mutated records).
 */
export const isPlainStep = (step: Step.Encoded): boolean =>
  typeof step.id === "string" && typeof step.runId === "string" && typeof step.agentId === "string" &&
  typeof step.name === "string" && kindSet.has(step.kind) && Number.isSafeInteger(step.seq) &&
  typeof step.inputHash === "string" && typeof step.input === "string" &&
  (step.output === null || typeof step.output === "string") && step.error === null && statusSet.has(step.status) &&
  isTime(step.startedAt) && (step.endedAt === null || isTime(step.endedAt)) && isTime(step.latencyMs) &&
  isOptionalAmount(step.inputTokens) && isOptionalAmount(step.outputTokens) &&
  isOptionalAmount(step.cachedInputTokens) && isOptionalAmount(step.reasoningTokens) && isAmount(step.tokensUsed) &&
  (step.costUsd === null || isAmount(step.costUsd)) && isOptionalText(step.model) && typeof step.replayed === "boolean" &&
  isOptionalText(step.parentId) && isOptionalText(step.drift) &&
  (step.occurrence == null || Number.isSafeInteger(step.occurrence)) && isRanges(step.replayedInside)
