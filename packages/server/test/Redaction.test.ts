/**
 * Redaction through RemoteLayer: the secrets of the redaction scenario are absent from every
 * request body sent to a real server on loopback (captured by the `HttpClient` the remote layer
 * runs on) and from the server's SQLite file, and a resume through the server replays the step
 * whose stored input was redacted.
 */
import { FetchHttpClient, HttpClient } from "@effect/platform"
import type { HttpBody } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { Outbox, Redaction } from "@multirun/core"
import * as Remote from "@multirun/core/RemoteLayer"
import {
  assertNoSecrets,
  type Executions,
  recordSecrets,
  resumeSecrets,
  secretRules,
  secrets
} from "@multirun/core/test-utils"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import { layerSqlite, TestServer } from "./TestServer.js"

const zero = (): Executions => ({ lookup: 0, answer: 0, charge: 0 })

const decoder = new TextDecoder()

/** A request body as text (the remote layer sends JSON as bytes). */
const bodyText = (body: HttpBody.HttpBody): string =>
  body._tag === "Uint8Array" ? decoder.decode(body.body) : body._tag === "Raw" ? String(body.body) : ""

/** `fetch`, recording the body of every request before it is sent. */
const recording = (bodies: Array<string>) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      HttpClient.tapRequest(client, (request) => Effect.sync(() => bodies.push(bodyText(request.body)))))
  ).pipe(Layer.provide(FetchHttpClient.layer))

layer(layerSqlite(), { excludeTestServices: true })("Redaction through the server", (it) => {
  it.effect("no secret is in any request body or in the server's database; a resume still replays", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const apiKey = yield* server.keyFor("redaction")
      const bodies: Array<string> = []
      const remote = Layer.merge(
        Remote.layerWithoutHttpClient({ url: server.url, apiKey }).pipe(Layer.provide(recording(bodies)), Layer.provide(Outbox.layerMemory)),
        Redaction.layer(secretRules)
      )
      const { runId } = yield* recordSecrets(zero()).pipe(Effect.provide(remote))
      const executions = zero()
      const resumed = yield* resumeSecrets(runId, executions).pipe(Effect.provide(remote))
      assert.strictEqual(executions.lookup, 0, "the step with a redacted input is replayed, not executed")
      assert.strictEqual(executions.answer, 1, "the step with a redacted output runs again")
      assert.strictEqual(resumed.answer.key, secrets.openAi)

      const sent = bodies.filter((body) => body.length > 0)
      assert.isAbove(sent.length, 2)
      assert.isTrue(sent.some((body) => body.includes(runId)), "the captured bodies are the run's writes")
      assertNoSecrets("the request bodies", sent.join("\n"))
      const filename = "filename" in server.database ? server.database.filename : ""
      const files = [filename, `${filename}-wal`].filter((file) => fs.existsSync(file))
      assertNoSecrets("the server's SQLite file", files.map((file) => fs.readFileSync(file).toString("latin1")).join("\n"))
    }).pipe(Effect.scoped))
})
