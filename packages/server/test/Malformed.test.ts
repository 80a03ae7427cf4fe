import { assert, layer } from "@effect/vitest"
import { agentRecord, batchOf, runRecord, stepRecord } from "@multirun/core/test-utils"
import { Effect } from "effect"
import * as net from "node:net"
import { drainBytes } from "../src/internal/body.js"
import { defaultMaxBodyBytes } from "../src/Limits.js"
import { type Answer, layerPg, layerSqlite, request, TestServer } from "./TestServer.js"

interface Case {
  readonly name: string
  readonly method?: string
  readonly path: string
  readonly body?: string | Uint8Array
  /** Send the body with `Transfer-Encoding: chunked` (no `Content-Length`). */
  readonly chunked?: true
  /** The whole request, given the API key, sent over a bare TCP connection (for what `fetch` cannot send). */
  readonly raw?: (key: string) => string
  readonly headers?: Record<string, string>
  readonly status: number
  /** A bad event in a good batch: answered 200 with the event in `rejected`, nothing of it stored. */
  readonly rejected?: true
  /** A word the message (or the rejection's reason) must contain, e.g. the offending field. */
  readonly mentions?: string
}

let batches = 0
/** A batch body with a batch id of its own (a repeated id would be answered as a duplicate). */
const batch = (events: unknown) => JSON.stringify({ batchId: `b-${batches++}`, events })
const stepEvent = (step: unknown) => ({ _tag: "StepWritten", eventId: "e", step })
const goodStep = stepRecord("s", "r", "a", 0)
const checkpoint = {
  id: "cp",
  runId: "r",
  name: "c",
  version: 1,
  agentId: null,
  createdAt: 1,
  runState: {},
  agents: [],
  extraState: null,
  covered: [],
  stepCount: 0,
  tokensUsed: 0,
  costUsd: 0,
  latencyMs: 0
}
const longId = "x".repeat(257)
/** JSON text with `bytes` in the middle of a string value: a batch id holding bytes that are not UTF-8. */
const withBytes = (bytes: ReadonlyArray<number>) =>
  Buffer.concat([Buffer.from("{\"batchId\":\"u-"), Buffer.from(bytes), Buffer.from("\",\"events\":[]}")])
/** `n` nested arrays. */
const nested = (n: number) => "[".repeat(n) + "]".repeat(n)
/** A batch whose one event is `event`, with the JSON text `raw` put where `event` holds the string "RAW". */
const batchWithRaw = (event: unknown, raw: string) => batch([event]).replace("\"RAW\"", raw)
const overLimit = JSON.stringify({ batchId: "b", events: [], pad: "x".repeat(6 * 1024 * 1024) })

const runEvent = (run: unknown) => ({ _tag: "RunWritten", eventId: "e", run })
const agentEvent = (agent: unknown) => ({ _tag: "AgentWritten", eventId: "e", agent })
const goodRun = runRecord("r")
const goodAgent = agentRecord("a", "r")

/** Records of the right shape holding what no database stores: each refused alone, on SQLite and PostgreSQL. */
const unstorable: ReadonlyArray<{ readonly name: string; readonly event: unknown; readonly mentions: string }> = [
  { name: "U+0000 in a run name", event: runEvent({ ...goodRun, name: "nightly\u0000" }), mentions: "run.name cannot be stored (found U+0000 at character 7)" },
  { name: "U+0000 in a step name", event: stepEvent({ ...goodStep, name: "\u0000" }), mentions: "step.name" },
  { name: "U+0000 in an agent name", event: agentEvent({ ...goodAgent, name: "a\u0000" }), mentions: "agent.name" },
  { name: "U+0000 in a run tag", event: runEvent({ ...goodRun, tags: ["ok", "t\u0000"] }), mentions: "run.tags[1]" },
  { name: "U+0000 in a metadata key", event: runEvent({ ...goodRun, metadata: { "k\u0000": 1 } }), mentions: "run.metadata" },
  { name: "U+0000 in a metadata text", event: agentEvent({ ...goodAgent, metadata: { note: ["x\u0000"] } }), mentions: "agent.metadata.note[0]" },
  { name: "U+0000 in a step's input text", event: stepEvent({ ...goodStep, input: "\"a\u0000\"" }), mentions: "step.input" },
  { name: "a lone surrogate in a step name", event: stepEvent({ ...goodStep, name: "x\ud800" }), mentions: "lone surrogate U+D800 at character 1" },
  { name: "a lone surrogate in a run name", event: runEvent({ ...goodRun, name: "\udc00" }), mentions: "lone surrogate U+DC00" },
  { name: "run id `..`", event: runEvent(runRecord("..")), mentions: "run.id" },
  { name: "empty run id", event: runEvent(runRecord("")), mentions: "an empty id" },
  { name: "step id of 100 KB", event: stepEvent({ ...goodStep, id: "x".repeat(100_000) }), mentions: "ids have at most 256" },
  { name: "agent id not printable", event: agentEvent(agentRecord("a\u0007", "r")), mentions: "not printable (U+0007)" },
  { name: "run id a lone surrogate", event: runEvent(runRecord("\ud83d")), mentions: "lone surrogate" },
  { name: "step's agent id `..`", event: stepEvent({ ...goodStep, agentId: ".." }), mentions: "step.agentId" }
]

const cases: ReadonlyArray<Case> = [
  ...unstorable.map(({ event, ...c }): Case => ({ ...c, method: "POST", path: "/api/ingest", body: batch([event]), status: 200, rejected: true })),
  { name: "broken JSON", method: "POST", path: "/api/ingest", body: "{nope", status: 400, mentions: "JSON" },
  { name: "truncated JSON", method: "POST", path: "/api/ingest", body: "[1, 2", status: 400, mentions: "JSON" },
  { name: "empty body", method: "POST", path: "/api/ingest", body: "", status: 400 },
  { name: "null body", method: "POST", path: "/api/ingest", body: "null", status: 400 },
  { name: "array body", method: "POST", path: "/api/ingest", body: "[]", status: 400 },
  { name: "string body", method: "POST", path: "/api/ingest", body: "\"batch\"", status: 400 },
  { name: "batchId of wrong type", method: "POST", path: "/api/ingest", body: JSON.stringify({ batchId: 1, events: [] }), status: 400, mentions: "batchId" },
  { name: "missing events", method: "POST", path: "/api/ingest", body: JSON.stringify({ batchId: "b" }), status: 400, mentions: "events" },
  { name: "events not an array", method: "POST", path: "/api/ingest", body: JSON.stringify({ batchId: "b", events: {} }), status: 400, mentions: "events" },
  { name: "unknown event tag", method: "POST", path: "/api/ingest", body: batch([{ _tag: "Nope", eventId: "e" }]), status: 200, rejected: true, mentions: "_tag" },
  { name: "event tag an object whose toString is no function", method: "POST", path: "/api/ingest", body: batch([{ _tag: { toString: 0 }, eventId: "e" }]), status: 200, rejected: true, mentions: "event" },
  { name: "drift of wrong type", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, drift: { toString: 0 } })]), status: 200, rejected: true, mentions: "drift" },
  { name: "event without record", method: "POST", path: "/api/ingest", body: batch([{ _tag: "StepWritten", eventId: "e" }]), status: 200, rejected: true, mentions: "step" },
  { name: "event id of wrong type", method: "POST", path: "/api/ingest", body: batch([{ ...stepEvent(goodStep), eventId: 7 }]), status: 200, rejected: true, mentions: "eventId" },
  { name: "unknown step kind", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, kind: "teleport" })]), status: 200, rejected: true, mentions: "kind" },
  { name: "seq as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, seq: "1" })]), status: 200, rejected: true, mentions: "seq" },
  { name: "tokens as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, tokensUsed: "many" })]), status: 200, rejected: true, mentions: "tokensUsed" },
  { name: "cost Infinity (1e999)", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, costUsd: 123456789 })]).replace("123456789", "1e999"), status: 200, rejected: true, mentions: "costUsd" },
  { name: "negative tokens", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, tokensUsed: -5 })]), status: 200, rejected: true, mentions: "tokensUsed" },
  { name: "negative input tokens", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, inputTokens: -1 })]), status: 200, rejected: true, mentions: "inputTokens" },
  { name: "run cost Infinity", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { costUsd: 123456789 }) }]).replace("123456789", "-1e999"), status: 200, rejected: true, mentions: "costUsd" },
  { name: "metadata nested 3,000 levels", method: "POST", path: "/api/ingest", body: batchWithRaw({ _tag: "RunWritten", eventId: "e", run: { ...runRecord("r"), metadata: { deep: "RAW" } } }, nested(3000)), status: 400, mentions: "nests deeper" },
  { name: "metadata nested 513 levels", method: "POST", path: "/api/ingest", body: batchWithRaw({ _tag: "RunWritten", eventId: "e", run: { ...runRecord("r"), metadata: { deep: "RAW" } } }, nested(513)), status: 200, rejected: true, mentions: "512" },
  { name: "step input nested 3,000 levels", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, input: "RAW" }), nested(3000)), status: 400, mentions: "nests deeper" },
  { name: "step output nested 100,000 levels", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, output: "RAW" }), nested(100_000)), status: 400, mentions: "nests deeper" },
  { name: "whole body nested 100,000 levels", method: "POST", path: "/api/ingest", body: nested(100_000), status: 400, mentions: "nests deeper" },
  { name: "checkpoint: state nested 3,000 levels", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, runState: { deep: "RAW" } }).replace("\"RAW\"", nested(3000)), status: 400, mentions: "nests deeper" },
  { name: "step input a JSON value, not its text", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, input: { prompt: "hi" } })]), status: 200, rejected: true, mentions: "input" },
  { name: "step latency Infinity (1e999)", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, latencyMs: "RAW" }), "1e999"), status: 200, rejected: true, mentions: "latencyMs" },
  { name: "step seq 1e999", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, seq: "RAW" }), "1e999"), status: 200, rejected: true, mentions: "seq" },
  { name: "step cost -Infinity", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, costUsd: "RAW" }), "-1e999"), status: 200, rejected: true, mentions: "costUsd" },
  { name: "checkpoint: cost Infinity", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, costUsd: "RAW" }).replace("\"RAW\"", "1e999"), status: 400, mentions: "costUsd" },
  { name: "NaN literal", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent({ ...goodStep, costUsd: "RAW" }), "NaN"), status: 400, mentions: "JSON" },
  { name: "__proto__ holding the batch's fields", method: "POST", path: "/api/ingest", body: `{"__proto__":${batch([])}}`, status: 400, mentions: "batchId" },
  { name: "__proto__ holding an event's record", method: "POST", path: "/api/ingest", body: batch([{ _tag: "StepWritten", eventId: "e", __proto__: "RAW" }]).replace("\"RAW\"", JSON.stringify({ step: goodStep })), status: 200, rejected: true, mentions: "step" },
  { name: "__proto__ holding a step's fields", method: "POST", path: "/api/ingest", body: batchWithRaw(stepEvent("RAW"), `{"__proto__":${JSON.stringify(goodStep)}}`), status: 200, rejected: true, mentions: "id" },
  { name: "null event", method: "POST", path: "/api/ingest", body: batch([null]), status: 200, rejected: true },
  { name: "agent id of wrong type", method: "POST", path: "/api/ingest", body: batch([{ _tag: "AgentWritten", eventId: "e", agent: { id: 1 } }]), status: 200, rejected: true, mentions: "agent" },
  { name: "invalid UTF-8 (0xFF 0xFE)", method: "POST", path: "/api/ingest", body: withBytes([0xff, 0xfe]), status: 400, mentions: "not valid UTF-8 (at byte 14)" },
  { name: "UTF-8 of a lone surrogate", method: "POST", path: "/api/ingest", body: withBytes([0xed, 0xa0, 0x80]), status: 400, mentions: "UTF-8" },
  { name: "overlong UTF-8 of '/'", method: "POST", path: "/api/ingest", body: withBytes([0xc0, 0xaf]), status: 400, mentions: "UTF-8" },
  { name: "UTF-8 sequence cut short", method: "POST", path: "/api/ingest", body: withBytes([0xe2, 0x82]), status: 400, mentions: "(at byte 16)" },
  { name: "Latin-1 text", method: "POST", path: "/api/ingest", body: withBytes([0x63, 0x61, 0x66, 0xe9]), status: 400, mentions: "UTF-8" },
  { name: "replayed as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, replayed: "yes" })]), status: 200, rejected: true, mentions: "replayed" },
  { name: "unknown run status", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { status: "exploded" as any }) }]), status: 200, rejected: true, mentions: "status" },
  { name: "run without name", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: { ...runRecord("r"), name: undefined } }]), status: 200, rejected: true, mentions: "name" },
  { name: "run tags not strings", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { tags: [1] as any }) }]), status: 200, rejected: true, mentions: "tags" },
  { name: "text/plain body", method: "POST", path: "/api/ingest", body: JSON.stringify(batchOf("t", "r", 1)), headers: { "content-type": "text/plain" }, status: 400 },
  { name: "urlencoded form", method: "POST", path: "/api/ingest", body: "batchId=b&events=1", headers: { "content-type": "application/x-www-form-urlencoded" }, status: 400, mentions: "Content-Type" },
  { name: "multipart without boundary", method: "POST", path: "/api/ingest", body: "--x\r\n", headers: { "content-type": "multipart/form-data" }, status: 400, mentions: "Content-Type" },
  { name: "octet-stream body", method: "POST", path: "/api/ingest", body: JSON.stringify(batchOf("o", "r", 1)), headers: { "content-type": "application/octet-stream" }, status: 400, mentions: "Content-Type" },
  { name: "body over the limit", method: "POST", path: "/api/ingest", body: overLimit, status: 413, mentions: "larger" },
  { name: "chunked body over the limit", method: "POST", path: "/api/ingest", body: overLimit, chunked: true, status: 413, mentions: "larger" },
  { name: "chunked broken JSON", method: "POST", path: "/api/ingest", body: "{\"batchId\":", chunked: true, status: 400, mentions: "JSON" },
  { name: "chunked invalid UTF-8", method: "POST", path: "/api/ingest", body: withBytes([0xff]), chunked: true, status: 400, mentions: "UTF-8" },
  { name: "headers over 16 KiB", path: "/api/runs", headers: { "x-padding": "p".repeat(20_000) }, status: 431, mentions: "headers" },
  { name: "authorization not Bearer", path: "/api/runs", headers: { authorization: "Basic dXNlcjpwYXNz" }, status: 401, mentions: "API key" },
  { name: "Bearer without a key", path: "/api/runs", headers: { authorization: "Bearer " }, status: 401, mentions: "missing API key" },
  { name: "raw: bad chunk size", raw: (key) => "POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", path: "", status: 400, mentions: "HPE_" },
  { name: "raw: Content-Length and chunked", raw: () => "POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", path: "", status: 400, mentions: "HPE_" },
  { name: "raw: two Content-Lengths", raw: () => "POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", path: "", status: 400, mentions: "HPE_" },
  { name: "raw: garbage request line", raw: () => "GARBAGE\r\n\r\n", path: "", status: 400, mentions: "HPE_" },
  { name: "raw: space in a header name", raw: () => "GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", path: "", status: 400, mentions: "HPE_" },
  { name: "checkpoint: broken JSON", method: "POST", path: "/api/checkpoints", body: "{\"id\":", status: 400, mentions: "JSON" },
  { name: "checkpoint: missing version", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: undefined }), status: 400, mentions: "version" },
  { name: "checkpoint: version as string", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: "two" }), status: 400, mentions: "version" },
  { name: "checkpoint: fractional version", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: 1.5 }), status: 400, mentions: "version" },
  { name: "checkpoint: covered of wrong shape", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, covered: [[1]] }), status: 400, mentions: "covered" },
  { name: "checkpoint: U+0000 in its name", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, name: "c\u0000" }), status: 400, mentions: "checkpoint.name cannot be stored" },
  { name: "checkpoint: id `..`", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, id: ".." }), status: 400, mentions: "checkpoint.id" },
  { name: "checkpoint: id of 100 KB", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, id: "c".repeat(100_000) }), status: 400, mentions: "ids have at most 256" },
  { name: "checkpoint: unknown run", method: "POST", path: "/api/checkpoints", body: JSON.stringify(checkpoint), status: 404, mentions: "not found" },
  { name: "limit not a number", path: "/api/runs?limit=abc", status: 400, mentions: "limit" },
  { name: "limit zero", path: "/api/runs?limit=0", status: 400, mentions: "limit" },
  { name: "limit fractional", path: "/api/runs?limit=1.5", status: 400, mentions: "limit" },
  { name: "limit too large", path: "/api/runs?limit=100000", status: 400, mentions: "limit" },
  { name: "unknown status filter", path: "/api/runs?status=exploded", status: 400, mentions: "status" },
  { name: "unknown run", path: "/api/runs/unknown-run", status: 404, mentions: "not found" },
  { name: "run id too long", path: `/api/runs/${longId}`, status: 400, mentions: "256" },
  { name: "run id of the longest length, unknown", path: `/api/runs/${"y".repeat(256)}`, status: 404, mentions: "not found" },
  { name: "agents of unknown run", path: "/api/runs/unknown-run/agents", status: 404, mentions: "not found" },
  { name: "steps of unknown run", path: "/api/runs/unknown-run/steps", status: 404, mentions: "not found" },
  { name: "steps with too long id", path: `/api/runs/${longId}/steps`, status: 400, mentions: "ids have at most" },
  { name: "checkpoints of unknown run", path: "/api/runs/unknown-run/checkpoints", status: 404, mentions: "not found" },
  { name: "latest of unknown run", path: "/api/runs/unknown-run/checkpoints/latest", status: 404, mentions: "not found" },
  { name: "unknown checkpoint", path: "/api/checkpoints/unknown-cp", status: 404, mentions: "not found" },
  { name: "checkpoint id too long", path: `/api/checkpoints/${longId}`, status: 400, mentions: "ids have at most" },
  { name: "diff of unknown checkpoints", path: "/api/checkpoints/a/diff/b", status: 404, mentions: "not found" },
  { name: "unknown path", path: "/api/nope", status: 404, mentions: "no route" },
  { name: "unknown method", method: "DELETE", path: "/api/runs/x", status: 404, mentions: "no route" },
  { name: "PUT on ingest", method: "PUT", path: "/api/ingest", body: batch([]), status: 404, mentions: "no route" },
  { name: "broken percent-encoding in an id", path: "/api/runs/%E0%A4%A", status: 404 },
  { name: "NUL in an id", path: "/api/runs/%00", status: 404, mentions: "not found" }
]

/** Sends `data` over a new TCP connection and reads the first answer (the server closes the connection). */
const rawRequest = (port: number, data: string) =>
  new Promise<Answer>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(data))
    let text = ""
    socket.setEncoding("utf8").on("data", (chunk: string) => text += chunk)
    socket.on("error", reject)
    socket.on("close", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? "0")
      const body = text.slice(text.indexOf("\r\n\r\n") + 4)
      try {
        resolve({ status, body: JSON.parse(body) })
      } catch {
        resolve({ status, body })
      }
    })
  })

layer(layerSqlite(), { excludeTestServices: true })("malformed and oversized requests", (it) => {
  it.effect(`${cases.length} bad requests get 4xx answers (bad events: their rejection) with a message, and the server answers the next request`, () =>
    Effect.gen(function*() {
      assert.isAtLeast(cases.length, 60)
      const server = yield* TestServer
      const { url } = server
      const key = yield* server.keyFor("malformed")
      for (const c of cases) {
        const answer = yield* Effect.promise(() =>
          c.raw !== undefined
            ? rawRequest(server.port, c.raw(key))
            : request(url, {
              path: c.path,
              key,
              ...(c.method === undefined ? {} : { method: c.method }),
              ...(c.body === undefined ? {} : { body: c.body }),
              ...(c.chunked === undefined ? {} : { chunked: true }),
              ...(c.headers === undefined ? {} : { headers: c.headers })
            })
        )
        assert.strictEqual(answer.status, c.status, `${c.name}: ${JSON.stringify(answer.body).slice(0, 300)}`)
        const next = yield* Effect.promise(() => request(url, { path: "/api/runs", key }))
        assert.strictEqual(next.status, 200, `the server answers again after ${c.name}`)
        if (c.rejected) {
          assert.deepStrictEqual([answer.body.stored, answer.body.rejected.length], [0, 1], c.name)
          assert.strictEqual(answer.body.rejected[0].index, 0, c.name)
          if (c.mentions !== undefined) assert.include(answer.body.rejected[0].reason, c.mentions, c.name)
          continue
        }
        assert.isString(answer.body.message, c.name)
        assert.isAbove(answer.body.message.length, 5, c.name)
        assert.isString(answer.body._tag, c.name)
        if (c.mentions !== undefined) {
          const text = JSON.stringify(answer.body)
          assert.include(text, c.mentions, `${c.name} should mention ${c.mentions}: ${text.slice(0, 300)}`)
        }
        if (c.status === 400 && answer.body._tag === "HttpApiDecodeError") {
          assert.isAbove(answer.body.issues.length, 0, c.name)
        }
      }

      // A normal request right after succeeds, and the bad ones stored nothing.
      const ok = yield* Effect.promise(() =>
        request(url, { method: "POST", path: "/api/ingest", key, body: JSON.stringify(batchOf("good", "good-run", 3)) })
      )
      assert.strictEqual(ok.status, 200)
      assert.deepStrictEqual(ok.body, { stored: 5, duplicate: false, rejected: [] })
      const runs = yield* Effect.promise(() => request(url, { path: "/api/runs", key }))
      assert.strictEqual(runs.status, 200)
      assert.deepStrictEqual(runs.body.map((run: { id: string }) => run.id), ["good-run"])
    }))

  it.effect("a body that never ends (chunked, declaring 10 GiB, or sent without a valid key) is answered, and its connection cut once 64 MiB more were thrown away", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const mib = (bytes: number) => bytes / 1024 / 1024
      const data = Buffer.alloc(64 * 1024, 0x20)
      const chunked = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")])
      const framings = [
        { header: "Transfer-Encoding: chunked", chunk: chunked, key: server.apiKey, status: 413, message: "larger than the server accepts" },
        { header: `Content-Length: ${10 * 1024 * 1024 * 1024}`, chunk: data, key: server.apiKey, status: 413, message: "larger than the server accepts" },
        // without a valid key the body is never read: thrown away the same way
        { header: "Transfer-Encoding: chunked", chunk: chunked, key: "mr_not_a_key", status: 401, message: "unknown API key" }
      ]
      for (const { chunk, header, key, message, status } of framings) {
        const label = `${header}, answered ${status}`
        const result = yield* Effect.promise(() =>
          new Promise<{ answer: string; answeredAt: number; cutAt: number }>((resolve) => {
            const socket = net.connect(server.port, "127.0.0.1")
            let sent = 0
            let answer = ""
            let answeredAt = -1
            const pump = () => {
              while (socket.writable && sent < 1024 * 1024 * 1024) {
                sent += data.length
                if (!socket.write(chunk)) return void socket.once("drain", pump)
              }
            }
            socket.setEncoding("utf8").on("data", (text: string) => {
              if (answeredAt < 0) answeredAt = sent
              answer += text
            })
            socket.on("error", () => {}) // the cut: seen as a reset by this writer
            socket.on("close", () => resolve({ answer, answeredAt, cutAt: sent }))
            socket.write(
              `POST /api/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
                `Content-Type: application/json\r\n${header}\r\n\r\n`
            )
            pump()
          })
        )
        assert.match(result.answer, new RegExp(`^HTTP/1\\.1 ${status} `), label)
        assert.include(result.answer, message, label)
        // answered soon after the limit, cut after the limit and the drain (plus what the sockets buffer)
        assert.isBelow(mib(result.answeredAt), mib(defaultMaxBodyBytes) + 16, label)
        assert.isAbove(mib(result.cutAt), mib(drainBytes), label)
        assert.isBelow(mib(result.cutAt), mib(defaultMaxBodyBytes + drainBytes) + 32, label)
        const next = yield* Effect.promise(() => request(server.url, { path: "/api/health" }))
        assert.strictEqual(next.status, 200)
      }
    }))
})

layer(layerPg(), { excludeTestServices: true })("unstorable records on PostgreSQL", (it) => {
  it.effect(`${unstorable.length} records no database stores are each rejected with the reason, the good ones of their batch stored, never 500`, () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const key = yield* server.keyFor("unstorable")
      const goodRuns: Array<string> = []
      for (const { event, mentions, name } of unstorable) {
        goodRuns.push(`good-${goodRuns.length}`)
        const good = runEvent(runRecord(goodRuns.at(-1)!))
        const answer = yield* Effect.promise(() =>
          request(server.url, { method: "POST", path: "/api/ingest", key, body: batch([good, event]) })
        )
        assert.strictEqual(answer.status, 200, `${name}: ${JSON.stringify(answer.body).slice(0, 300)}`)
        assert.deepStrictEqual([answer.body.stored, answer.body.rejected.length, answer.body.rejected[0].index], [1, 1, 1], name)
        assert.include(answer.body.rejected[0].reason, mentions, name)
      }
      // the longest id a client may make is stored and served back
      const longest = "z".repeat(256)
      goodRuns.push(longest)
      yield* Effect.promise(() =>
        request(server.url, { method: "POST", path: "/api/ingest", key, body: batch([runEvent(runRecord(longest))]) })
      )
      const served = yield* Effect.promise(() => request(server.url, { path: `/api/runs/${longest}`, key }))
      assert.deepStrictEqual([served.status, served.body.id], [200, longest])
      // a checkpoint of a stored run, named with U+0000: 400, not the database's failure
      const saved = yield* Effect.promise(() =>
        request(server.url, {
          method: "POST",
          path: "/api/checkpoints",
          key,
          body: JSON.stringify({ ...checkpoint, runId: goodRuns[0], name: "c\u0000" })
        })
      )
      assert.strictEqual(saved.status, 400, JSON.stringify(saved.body).slice(0, 300))
      assert.include(saved.body.message, "checkpoint.name cannot be stored (found U+0000 at character 1)")
      const runs = yield* Effect.promise(() => request(server.url, { path: "/api/runs", key }))
      assert.strictEqual(runs.status, 200)
      assert.sameMembers(runs.body.map((run: { id: string }) => run.id), goodRuns)
    }))
})
