/**
 * Migration 4: steps move to the compact layout (a column per field, no JSON record; ids and
 * the input hash as bytes, kind and status as small integers; in SQLite a table without rowid).
 * A new table is filled from the old one, each row decoded as version 3 wrote it, then takes
 * its name. A record that is not JSON keeps its key and reads back as corrupt.
 *
 * Frozen: the step table and row encoding of `stepRows.ts` as they were at schema version 7
 * (with `parent_id`, `drift`, `occurrence` and `replayed_inside`, which migrations 5 and 6 then
 * find present). Never edit it: a later row layout must not change what this migration wrote,
 * and the reader of that layout reads these rows. A new layout is a new migration. It imports
 * nothing of this package (`FrozenMigrations.test.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** A step record as version 3 stored it (its JSON, with the key columns put back). */
interface StoredStep {
  readonly id?: string
  readonly runId?: string
  readonly seq?: number
  readonly agentId?: string
  readonly name?: string
  readonly kind?: string
  readonly status?: string
  readonly replayed?: boolean
  readonly model?: string | null
  readonly inputHash?: string
  readonly input?: string
  readonly output?: string | null
  readonly error?: unknown
  readonly startedAt?: number
  readonly endedAt?: number | null
  readonly latencyMs?: number
  readonly tokensUsed?: number
  readonly inputTokens?: number
  readonly outputTokens?: number
  readonly cachedInputTokens?: number
  readonly reasoningTokens?: number
  readonly costUsd?: number | null
  readonly parentId?: string | null
  readonly drift?: string | null
  readonly occurrence?: number | null
  readonly replayedInside?: ReadonlyArray<unknown>
}

/** Step kinds and statuses by their stored code. */
const kindCodes = new Map<unknown, number>(
  ["llm_call", "tool_call", "retrieval", "function", "handoff", "custom"].map((kind, code) => [kind, code])
)
const statusCodes = new Map<unknown, number>(
  ["running", "completed", "failed", "interrupted"].map((status, code) => [status, code])
)
const replayedFlag = 1
const noModelFlag = 2

/** The value of each lowercase hex digit by its character code, -1 for any other ASCII character. */
const hexDigits = new Int8Array(128).fill(-1)
for (let digit = 0; digit < 16; digit++) hexDigits[digit.toString(16).charCodeAt(0)] = digit

const isUuidDash = (at: number): boolean => at === 8 || at === 13 || at === 18 || at === 23

/** The `length` bytes written as lowercase hex in `text` (a dashed UUID when `dashed`), or null. */
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

/** Text not in the packed form: its UTF-8 bytes then 0xFF, one more 0xFF when that is the packed length. */
const textBytes = (text: string, packedLength: number): Buffer => {
  const bytes = Buffer.from(text, "utf8")
  return Buffer.concat([bytes, bytes.length + 1 === packedLength ? Buffer.of(0xff, 0xff) : Buffer.of(0xff)])
}

const idBytes = (id: string | undefined): Buffer | null =>
  id === undefined ? null : packedHex(id, 16, true) ?? textBytes(id, 16)

const hashBytes = (hash: string | undefined): Buffer | null =>
  hash === undefined ? null : packedHex(hash, 32, false) ?? textBytes(hash, 32)

/** The row of a step, by column. Fields it lacks become NULL (a corrupt record then reads back as corrupt). */
const rowOf = (project: string, step: StoredStep) => ({
  project,
  id: idBytes(step.id),
  run_id: idBytes(step.runId),
  seq: step.seq,
  agent_id: idBytes(step.agentId),
  name: step.name ?? null,
  kind: kindCodes.get(step.kind) ?? null,
  status: statusCodes.get(step.status) ?? null,
  flags: (step.replayed === true ? replayedFlag : 0) | (step.model === undefined ? noModelFlag : 0),
  input_hash: hashBytes(step.inputHash),
  input: step.input ?? null,
  output: step.output ?? null,
  error: step.error == null ? null : JSON.stringify(step.error),
  started_at: step.startedAt ?? null,
  ended_at: step.endedAt ?? null,
  latency_ms: step.latencyMs ?? null,
  tokens_used: step.tokensUsed ?? null,
  input_tokens: step.inputTokens ?? null,
  output_tokens: step.outputTokens ?? null,
  cached_input_tokens: step.cachedInputTokens ?? null,
  reasoning_tokens: step.reasoningTokens ?? null,
  cost_usd: step.costUsd ?? null,
  model: step.model ?? null,
  parent_id: step.parentId == null ? null : idBytes(step.parentId),
  drift: step.drift ?? null,
  occurrence: step.occurrence ?? null,
  replayed_inside: step.replayedInside === undefined || step.replayedInside.length === 0
    ? null
    : JSON.stringify(step.replayedInside)
})

/** The step table's columns in one dialect; keyed by run then seq, only the key NOT NULL. */
const tableDefinition = (dialect: "pg" | "sqlite"): string => {
  const [bytes, real, small] = dialect === "pg" ? ["BYTEA", "DOUBLE PRECISION", "SMALLINT"] : ["BLOB", "REAL", "INTEGER"]
  return `(
    project TEXT NOT NULL, id ${bytes} NOT NULL, run_id ${bytes} NOT NULL, seq INTEGER NOT NULL,
    agent_id ${bytes}, name TEXT, kind ${small}, status ${small}, flags ${small}, input_hash ${bytes},
    input TEXT, output TEXT, error TEXT, started_at ${real}, ended_at ${real}, latency_ms ${real},
    tokens_used ${real}, input_tokens ${real}, output_tokens ${real}, cached_input_tokens ${real},
    reasoning_tokens ${real}, cost_usd ${real}, model TEXT, parent_id ${bytes}, drift TEXT,
    occurrence INTEGER, replayed_inside TEXT,
    PRIMARY KEY (project, run_id, seq, id), UNIQUE (project, id)
  )${dialect === "pg" ? "" : " WITHOUT ROWID"}`
}

/** Rows of the old step table read per statement. */
const readChunk = 1_000
/** Rows per INSERT (27 columns: 6,912 parameters, far below SQLite's and PostgreSQL's limits). */
const writeChunk = 256

/** Copies the steps into the compact table, which then takes the name of the old one. */
export const compactSteps = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })
  yield* sql.unsafe(`CREATE TABLE multirun_steps_v4 ${tableDefinition(dialect)}`)
  let after: ReadonlyArray<unknown> | undefined
  while (true) {
    const rows = yield* sql`SELECT project, id, run_id, seq, input, output, record FROM multirun_steps
      ${after === undefined ? sql`` : sql`WHERE (project, id) > (${after[0]}, ${after[1]})`}
      ORDER BY project, id LIMIT ${readChunk}`.values
    if (rows.length === 0) break
    after = rows[rows.length - 1]!
    const written = rows.map(([project, id, runId, seq, input, output, record]) => {
      let fields: object = {}
      try {
        fields = JSON.parse(record as string)
      } catch {
        // kept as a corrupt row: its key only
      }
      return rowOf(project as string, { ...fields, id, runId, seq: Number(seq), input, output } as StoredStep)
    })
    for (let from = 0; from < written.length; from += writeChunk) {
      yield* sql`INSERT INTO multirun_steps_v4 ${sql.insert(written.slice(from, from + writeChunk))}`
    }
  }
  yield* sql`DROP TABLE multirun_steps`
  yield* sql`ALTER TABLE multirun_steps_v4 RENAME TO multirun_steps`
})
