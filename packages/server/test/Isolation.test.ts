import { assert, layer } from "@effect/vitest"
import { AgentContext, Checkpoints, MultiRunClient, RunContext, step, withAgent, withRun } from "@multirun/core"
import { batchOf } from "@multirun/core/test-utils"
import { Effect } from "effect"
import { layerSqlite, memoryRemote, request, TestServer } from "./TestServer.js"

layer(layerSqlite(), { excludeTestServices: true })("isolation between projects", (it) => {
  /** Project A's run with an agent, steps and two checkpoints, recorded through RemoteLayer. */
  const recordRunOfA = (url: string, apiKey: string) =>
    withRun({ name: "secret-run", tags: ["a-only"] })(Effect.gen(function*() {
      const run = yield* RunContext
      const first = yield* withAgent("planner")(Effect.gen(function*() {
        yield* Effect.succeed(1).pipe(step("plan", { input: { topic: "x" } }))
        return yield* (yield* AgentContext).checkpoint("one")
      }))
      yield* Effect.succeed(2).pipe(step("write", { input: { topic: "y" } }))
      yield* run.setState("phase", "done")
      const second = yield* run.checkpoint("two")
      return { runId: run.runId as string, first: first.id as string, second: second.id as string }
    })).pipe(Effect.provide(memoryRemote({ url, apiKey })))

  it.effect("another project's ids answer 404 on every endpoint, lists show only one's own runs, no or wrong key is 401", () =>
    Effect.gen(function*() {
      const server = yield* TestServer
      const { url } = server
      const keyA = yield* server.keyFor("alpha")
      const keyB = yield* server.keyFor("beta")
      const a = yield* recordRunOfA(url, keyA)
      const ownRunOfB = yield* withRun("b-run")(Effect.map(RunContext, (run) => run.runId as string)).pipe(
        Effect.provide(memoryRemote({ url, apiKey: keyB }))
      )
      const checkpointOfA = yield* Effect.promise(() => request(url, { path: `/api/checkpoints/${a.second}`, key: keyA }))
      assert.strictEqual(checkpointOfA.status, 200)

      // Every endpoint with A's ids, asked with B's key: 404, with the same body as an unknown id.
      const probes: ReadonlyArray<{ method?: string; path: string; body?: string; unknown: string }> = [
        { path: `/api/runs/${a.runId}`, unknown: `/api/runs/nope` },
        { path: `/api/runs/${a.runId}/agents`, unknown: `/api/runs/nope/agents` },
        { path: `/api/runs/${a.runId}/steps`, unknown: `/api/runs/nope/steps` },
        { path: `/api/runs/${a.runId}/checkpoints`, unknown: `/api/runs/nope/checkpoints` },
        { path: `/api/runs/${a.runId}/checkpoints/latest`, unknown: `/api/runs/nope/checkpoints/latest` },
        { path: `/api/checkpoints/${a.first}`, unknown: `/api/checkpoints/nope` },
        { path: `/api/checkpoints/${a.first}/diff/${a.second}`, unknown: `/api/checkpoints/nope/diff/nope2` },
        {
          method: "POST",
          path: `/api/checkpoints`,
          body: JSON.stringify({ ...checkpointOfA.body, id: "b-forged", version: 99 }),
          unknown: `/api/checkpoints`
        }
      ]
      for (const probe of probes) {
        const asB = yield* Effect.promise(() => request(url, { ...probe, key: keyB }))
        assert.strictEqual(asB.status, 404, `${probe.method ?? "GET"} ${probe.path} as B`)
        assert.strictEqual(asB.body._tag, "NotFound")
        const unknownAnswer = yield* Effect.promise(() =>
          request(url, {
            ...probe,
            path: probe.unknown,
            key: keyB,
            ...(probe.body === undefined ? {} : {
              body: JSON.stringify({ ...checkpointOfA.body, id: "b-forged", runId: "nope", version: 99 })
            })
          })
        )
        assert.strictEqual(unknownAnswer.status, 404)
        const anonymize = (message: string) => message.replace(/[0-9a-f-]{36}|nope2?/g, "ID")
        assert.strictEqual(anonymize(asB.body.message), anonymize(unknownAnswer.body.message))
        // A still sees its own data.
        if (probe.method === undefined) {
          const asA = yield* Effect.promise(() => request(url, { path: probe.path, key: keyA }))
          assert.strictEqual(asA.status, 200, `${probe.path} as A`)
        }
      }

      // Listing shows only one's own runs, with or without filters.
      const listB = yield* Effect.promise(() => request(url, { path: `/api/runs`, key: keyB }))
      assert.deepStrictEqual(listB.body.map((run: { id: string }) => run.id), [ownRunOfB])
      const taggedB = yield* Effect.promise(() => request(url, { path: `/api/runs?tag=a-only`, key: keyB }))
      assert.deepStrictEqual(taggedB.body, [])
      const listA = yield* Effect.promise(() => request(url, { path: `/api/runs`, key: keyA }))
      assert.deepStrictEqual(listA.body.map((run: { id: string }) => run.id), [a.runId])

      // Writing under A's run id from B lands in B's project; A's run is untouched.
      const before = yield* Effect.promise(() => request(url, { path: `/api/runs/${a.runId}`, key: keyA }))
      const write = yield* Effect.promise(() =>
        request(url, { method: "POST", path: `/api/ingest`, key: keyB, body: JSON.stringify(batchOf("b-batch", a.runId, 3)) })
      )
      assert.strictEqual(write.status, 200)
      const after = yield* Effect.promise(() => request(url, { path: `/api/runs/${a.runId}`, key: keyA }))
      assert.deepStrictEqual(after.body, before.body)
      const stepsOfA = yield* Effect.promise(() => request(url, { path: `/api/runs/${a.runId}/steps`, key: keyA }))
      assert.deepStrictEqual(stepsOfA.body.map((s: { name: string }) => s.name), ["plan", "write"])
      const viaClient = yield* Effect.flatMap(MultiRunClient.MultiRunClient, (client) => client.listSteps(a.runId)).pipe(
        Effect.provide(memoryRemote({ url, apiKey: keyB }))
      )
      assert.strictEqual(viaClient.length, 3)

      // No key, an empty key, a wrong key, a malformed header: 401 everywhere but health.
      const endpoints = [
        ...probes.map((probe) => ({ method: probe.method, path: probe.path, body: probe.body })),
        { method: undefined, path: `/api/runs`, body: undefined },
        { method: "POST", path: `/api/ingest`, body: JSON.stringify(batchOf("x", "y", 1)) }
      ]
      const credentials: ReadonlyArray<Record<string, string>> = [
        {},
        { authorization: "Bearer " },
        { authorization: `Bearer ${keyA}x` },
        { authorization: "Bearer mr_not-a-key" },
        { authorization: `Basic ${keyA}` }
      ]
      for (const endpoint of endpoints) {
        for (const headers of credentials) {
          const answer = yield* Effect.promise(() =>
            request(url, {
              path: endpoint.path,
              headers,
              ...(endpoint.method === undefined ? {} : { method: endpoint.method }),
              ...(endpoint.body === undefined ? {} : { body: endpoint.body })
            })
          )
          assert.strictEqual(answer.status, 401, `${endpoint.method ?? "GET"} ${endpoint.path} with ${JSON.stringify(headers)}`)
          assert.strictEqual(answer.body._tag, "Unauthorized")
          assert.isAbove(answer.body.message.length, 10)
        }
      }
      const health = yield* Effect.promise(() => request(url, { path: `/api/health` }))
      assert.strictEqual(health.status, 200)

      // Checkpoints of A through B's RemoteLayer are as unknown as any other id.
      const checkpointsOfB = yield* Effect.flatMap(Checkpoints, (checkpoints) => checkpoints.list(a.runId)).pipe(
        Effect.provide(memoryRemote({ url, apiKey: keyB }))
      )
      assert.deepStrictEqual(checkpointsOfB, [])
    }))
})
