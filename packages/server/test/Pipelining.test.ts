/**
 * Pipelined ingest: `RemoteLayer` keeps several ingest requests in flight. A batch holding a run
 * or agent record is sent alone (after every earlier batch is answered, before any later one), so
 * the stored run and agents are always their last write; steps of concurrent batches are stored
 * once each, also when the server is killed with requests in flight and started again.
 */
import { FetchHttpClient, HttpClient } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { MultiRunClient, Outbox, RunContext, step, withAgent, withRun } from "@multirun/core"
import * as Remote from "@multirun/core/RemoteLayer"
import { tempDir } from "@multirun/core/test-utils"
import * as StepRows from "@multirun/sql/StepRows"
import { Effect, Exit, Layer, Option, Random, Scope } from "effect"
import * as path from "node:path"
import * as ApiKeys from "../src/ApiKeys.js"
import * as Database from "../src/Database.js"
import { bundleCli, restartableServe } from "./cliBundle.js"
import { memoryRemote, sqliteDatabase, start } from "./TestServer.js"

/** What the client's ingest requests did: how many were in flight at once, and any overtaking. */
interface Traffic {
  mostInFlight: number
  barriers: number
  overtaken: number
}

/**
 * `RemoteLayer` whose ingest requests wait before they are sent, so that requests in flight
 * together reach the server out of order: one holding a running run or agent (written at its
 * start and at each checkpoint) 40 ms, any other 0-5 ms. It counts what `traffic` reports.
 */
const shuffledRemote = (options: Remote.Options, traffic: Traffic) => {
  let inFlight = 0
  let barrierInFlight = false
  const http = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      client.pipe(HttpClient.transform((response, request) => {
        if (!request.url.endsWith("/api/ingest") || request.body._tag !== "Uint8Array") return response
        const events = JSON.parse(new TextDecoder().decode(request.body.body)).events as Array<
          { _tag: string; run?: { status: string }; agent?: { status: string } }
        >
        const barrier = events.some((event) => event._tag !== "StepWritten")
        const running = events.some((event) => (event.run ?? event.agent)?.status === "running")
        return Effect.suspend(() => {
          if (barrierInFlight || (barrier && inFlight > 0)) traffic.overtaken++
          traffic.mostInFlight = Math.max(traffic.mostInFlight, ++inFlight)
          if (barrier) {
            traffic.barriers++
            barrierInFlight = true
          }
          const wait = running ? Effect.succeed(40) : Random.nextIntBetween(0, 5)
          return Effect.zipRight(Effect.flatMap(wait, Effect.sleep), response)
        }).pipe(Effect.ensuring(Effect.sync(() => {
          inFlight--
          if (barrier) barrierInFlight = false
        })))
      })))
  ).pipe(Layer.provide(FetchHttpClient.layer))
  return Remote.layerWithoutHttpClient(options).pipe(Layer.provide(Layer.merge(http, Outbox.layerMemory)))
}

describe("pipelined ingest", () => {
  it.scopedLive("requests in flight together arrive in any order: the run and its agents are stored as last written", () =>
    Effect.gen(function*() {
      const server = yield* start(yield* sqliteDatabase)
      const apiKey = yield* server.keyFor("pipelining")
      const traffic: Traffic = { mostInFlight: 0, barriers: 0, overtaken: 0 }
      const agents = ["planner", "writer", "critic"]
      const stepsPerAgent = 60
      const runId = yield* withRun("pipelined")(Effect.gen(function*() {
        const run = yield* RunContext
        for (const name of agents) {
          yield* withAgent(name)(Effect.gen(function*() {
            for (let i = 0; i < stepsPerAgent; i++) {
              yield* Effect.succeed(i).pipe(step("work", { input: { name, i } }))
            }
          }))
        }
        return run.runId as string
      })).pipe(Effect.provide(shuffledRemote({ url: server.url, apiKey, maxBatch: 25, maxInFlight: 4 }, traffic)))

      assert.isAtLeast(traffic.mostInFlight, 2, "requests were in flight together")
      assert.isAtLeast(traffic.barriers, 3, "the run and agent records were sent")
      assert.strictEqual(traffic.overtaken, 0, "no request was in flight beside a run or agent record")

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(memoryRemote({ url: server.url, apiKey })))
      const run = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(run.status, "completed")
      assert.strictEqual(run.stepCount, agents.length * stepsPerAgent)
      const stored = yield* client.listAgents(runId)
      assert.deepStrictEqual(
        stored.map((agent) => [agent.name, agent.status, agent.stepCount]).sort(),
        agents.map((name) => [name, "completed", stepsPerAgent]).sort()
      )
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => s.seq), Array.from({ length: agents.length * stepsPerAgent }, (_, i) => i))
    }), { timeout: 60_000 })

  it.scopedLive("the server is killed with requests in flight and started again: every step is stored exactly once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("pipelining-kill")
      const db = path.join(dir, "server.db")
      const bin = yield* bundleCli
      const apiKey = yield* Effect.orDie(Effect.provide(ApiKeys.create("pipelining"), Database.layer({ filename: db })))
      const startServer = yield* restartableServe(bin, db)
      let server = yield* startServer
      const totalSteps = 3_000
      const traffic: Traffic = { mostInFlight: 0, barriers: 0, overtaken: 0 }
      const remote = shuffledRemote(
        { url: server.url, apiKey, maxBatch: 20, maxInFlight: 8, retryBase: "20 millis", retryMax: "100 millis", requestTimeout: "3 seconds" },
        traffic
      )
      let kills = 0
      const runId = yield* withRun("killed-server")(Effect.gen(function*() {
        for (let i = 0; i < totalSteps; i++) {
          yield* Effect.succeed(i).pipe(step("work", { input: { i } }))
          // SIGKILL four times while requests are in flight, then a new server on the same port
          if (i % 800 === 400) {
            yield* Scope.close(server.scope, Exit.void)
            kills++
            server = yield* startServer
          }
        }
        return (yield* RunContext).runId as string
      })).pipe(Effect.provide(remote))
      assert.strictEqual(kills, 4)
      assert.isAtLeast(traffic.mostInFlight, 2)
      assert.strictEqual(traffic.overtaken, 0)

      const client = yield* MultiRunClient.MultiRunClient.pipe(Effect.provide(memoryRemote({ url: server.url, apiKey })))
      const run = Option.getOrThrow(yield* client.getRun(runId))
      assert.strictEqual(run.status, "completed")
      assert.strictEqual(run.stepCount, totalSteps)
      const steps = yield* client.listSteps(runId)
      assert.deepStrictEqual(steps.map((s) => s.seq), Array.from({ length: totalSteps }, (_, i) => i))
      assert.deepStrictEqual(steps.map((s) => JSON.parse(s.output!)), Array.from({ length: totalSteps }, (_, i) => i))
      const [rows] = yield* Effect.orDie(Effect.provide(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql<{ n: number; distinct_seq: number }>`
            SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_seq FROM multirun_steps WHERE run_id = ${StepRows.runKey(runId)}`
        ),
        Database.layer({ filename: db })
      ))
      assert.deepStrictEqual([Number(rows!.n), Number(rows!.distinct_seq)], [totalSteps, totalSteps])
      yield* Scope.close(server.scope, Exit.void)
    }), { timeout: 120_000 })
})
