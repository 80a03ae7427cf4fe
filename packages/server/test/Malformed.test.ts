import { assert, layer } from "@effect/vitest"
import { batchOf, runRecord, stepRecord } from "@multirun/core/test-utils"
import { Effect } from "effect"
import { layerSqlite, request, TestServer } from "./TestServer.js"

interface Case {
  readonly name: string
  readonly method?: string
  readonly path: string
  readonly body?: string
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
const longId = "x".repeat(101)

const cases: ReadonlyArray<Case> = [
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
  { name: "event without record", method: "POST", path: "/api/ingest", body: batch([{ _tag: "StepWritten", eventId: "e" }]), status: 200, rejected: true, mentions: "step" },
  { name: "event id of wrong type", method: "POST", path: "/api/ingest", body: batch([{ ...stepEvent(goodStep), eventId: 7 }]), status: 200, rejected: true, mentions: "eventId" },
  { name: "unknown step kind", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, kind: "teleport" })]), status: 200, rejected: true, mentions: "kind" },
  { name: "seq as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, seq: "1" })]), status: 200, rejected: true, mentions: "seq" },
  { name: "tokens as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, tokensUsed: "many" })]), status: 200, rejected: true, mentions: "tokensUsed" },
  { name: "cost Infinity (1e999)", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, costUsd: 123456789 })]).replace("123456789", "1e999"), status: 200, rejected: true, mentions: "costUsd" },
  { name: "negative tokens", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, tokensUsed: -5 })]), status: 200, rejected: true, mentions: "tokensUsed" },
  { name: "negative input tokens", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, inputTokens: -1 })]), status: 200, rejected: true, mentions: "inputTokens" },
  { name: "run cost Infinity", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { costUsd: 123456789 }) }]).replace("123456789", "-1e999"), status: 200, rejected: true, mentions: "costUsd" },
  { name: "metadata nested 3,000 levels", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: { ...runRecord("r"), metadata: { deep: "[".repeat(3000) + "]".repeat(3000) } } }]).replace('"' + "[".repeat(3000) + "]".repeat(3000) + '"', "[".repeat(3000) + "]".repeat(3000)), status: 200, rejected: true },
  { name: "replayed as string", method: "POST", path: "/api/ingest", body: batch([stepEvent({ ...goodStep, replayed: "yes" })]), status: 200, rejected: true, mentions: "replayed" },
  { name: "unknown run status", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { status: "exploded" as any }) }]), status: 200, rejected: true, mentions: "status" },
  { name: "run without name", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: { ...runRecord("r"), name: undefined } }]), status: 200, rejected: true, mentions: "name" },
  { name: "run tags not strings", method: "POST", path: "/api/ingest", body: batch([{ _tag: "RunWritten", eventId: "e", run: runRecord("r", { tags: [1] as any }) }]), status: 200, rejected: true, mentions: "tags" },
  { name: "text/plain body", method: "POST", path: "/api/ingest", body: JSON.stringify(batchOf("t", "r", 1)), headers: { "content-type": "text/plain" }, status: 400 },
  { name: "body over the limit", method: "POST", path: "/api/ingest", body: JSON.stringify({ batchId: "b", events: [], pad: "x".repeat(6 * 1024 * 1024) }), status: 413, mentions: "larger" },
  { name: "checkpoint: broken JSON", method: "POST", path: "/api/checkpoints", body: "{\"id\":", status: 400, mentions: "JSON" },
  { name: "checkpoint: missing version", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: undefined }), status: 400, mentions: "version" },
  { name: "checkpoint: version as string", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: "two" }), status: 400, mentions: "version" },
  { name: "checkpoint: fractional version", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, version: 1.5 }), status: 400, mentions: "version" },
  { name: "checkpoint: covered of wrong shape", method: "POST", path: "/api/checkpoints", body: JSON.stringify({ ...checkpoint, covered: [[1]] }), status: 400, mentions: "covered" },
  { name: "checkpoint: unknown run", method: "POST", path: "/api/checkpoints", body: JSON.stringify(checkpoint), status: 404, mentions: "not found" },
  { name: "limit not a number", path: "/api/runs?limit=abc", status: 400, mentions: "limit" },
  { name: "limit zero", path: "/api/runs?limit=0", status: 400, mentions: "limit" },
  { name: "limit fractional", path: "/api/runs?limit=1.5", status: 400, mentions: "limit" },
  { name: "limit too large", path: "/api/runs?limit=100000", status: 400, mentions: "limit" },
  { name: "unknown status filter", path: "/api/runs?status=exploded", status: 400, mentions: "status" },
  { name: "unknown run", path: "/api/runs/unknown-run", status: 404, mentions: "not found" },
  { name: "run id too long", path: `/api/runs/${longId}`, status: 400, mentions: "100" },
  { name: "run id of the longest length, unknown", path: `/api/runs/${"y".repeat(100)}`, status: 404, mentions: "not found" },
  { name: "agents of unknown run", path: "/api/runs/unknown-run/agents", status: 404, mentions: "not found" },
  { name: "steps of unknown run", path: "/api/runs/unknown-run/steps", status: 404, mentions: "not found" },
  { name: "steps with too long id", path: `/api/runs/${longId}/steps`, status: 400, mentions: "ids have at most" },
  { name: "checkpoints of unknown run", path: "/api/runs/unknown-run/checkpoints", status: 404, mentions: "not found" },
  { name: "latest of unknown run", path: "/api/runs/unknown-run/checkpoints/latest", status: 404, mentions: "not found" },
  { name: "unknown checkpoint", path: "/api/checkpoints/unknown-cp", status: 404, mentions: "not found" },
  { name: "checkpoint id too long", path: `/api/checkpoints/${longId}`, status: 400, mentions: "ids have at most" },
  { name: "diff of unknown checkpoints", path: "/api/checkpoints/a/diff/b", status: 404, mentions: "not found" },
  { name: "unknown path", path: "/api/nope", status: 404, mentions: "no route" },
  { name: "unknown method", method: "DELETE", path: "/api/runs/x", status: 404, mentions: "no route" }
]

layer(layerSqlite(), { excludeTestServices: true })("malformed and oversized requests", (it) => {
  it.effect(`${cases.length} bad requests get 4xx answers (bad events: their rejection) with a message, and the server keeps serving`, () =>
    Effect.gen(function*() {
      assert.isAtLeast(cases.length, 30)
      const server = yield* TestServer
      const { url } = server
      const key = yield* server.keyFor("malformed")
      for (const c of cases) {
        const answer = yield* Effect.promise(() =>
          request(url, {
            path: c.path,
            key,
            ...(c.method === undefined ? {} : { method: c.method }),
            ...(c.body === undefined ? {} : { body: c.body }),
            ...(c.headers === undefined ? {} : { headers: c.headers })
          })
        )
        assert.strictEqual(answer.status, c.status, `${c.name}: ${JSON.stringify(answer.body).slice(0, 300)}`)
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
})
