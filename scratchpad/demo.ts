/**
 * The main job: a small research crew (planner, two researchers in parallel, writer) on the
 * embedded SQLite store. The first pass runs in a child process that dies (SIGKILL) in the
 * middle of the writer's first LLM call; the second pass resumes the run from its latest
 * checkpoint, replays the recorded steps (no second bill) and finishes. Then the run tree is
 * printed with its totals (`RunTree` of @multirun/server, the same as `multirun runs show`).
 *
 * Run: npm run demo
 */
import { Clock, Effect, Layer, Logger, LogLevel, Option } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import {
  AgentContext,
  Checkpoints,
  MultiRunClient,
  Run,
  RunContext,
  step,
  withAgent,
  withRun
} from "@multirun/core"
import { Sqlite } from "@multirun/sql"
import { RunTree } from "@multirun/server"

const here = path.dirname(fileURLToPath(import.meta.url))
const database = path.join(here, "..", ".multirun", "demo.db")
const runName = "research-crew"
const topic = "durable execution for AI agents"

/** A deterministic fake model: the answer, tokens and cost follow from the prompt. */
const fakeModel = (prompt: string, options: { readonly crash?: boolean } = {}) =>
  Effect.gen(function*() {
    yield* Effect.sleep("40 millis")
    if (options.crash) {
      console.log("  ✗ the process dies in the middle of the writer's LLM call (SIGKILL)")
      process.kill(process.pid, "SIGKILL")
      yield* Effect.never
    }
    const inputTokens = 20 + Math.ceil(prompt.length / 4)
    const outputTokens = 50 + (prompt.length * 7) % 400
    return {
      text: `«${prompt.slice(0, 48)}» → ${outputTokens} tokens of insight`,
      inputTokens,
      outputTokens,
      costUsd: inputTokens * 0.0000005 + outputTokens * 0.000002
    }
  })

const llm = (name: string, prompt: string, options: { readonly crash?: boolean } = {}) =>
  fakeModel(prompt, options).pipe(
    step(name, {
      kind: "llm_call",
      input: { model: "fake-1", prompt },
      usage: (answer) => ({
        inputTokens: answer.inputTokens,
        outputTokens: answer.outputTokens,
        costUsd: answer.costUsd,
        model: "fake-1"
      })
    }),
    Effect.map((answer) => answer.text)
  )

const search = (query: string) =>
  Effect.sleep("15 millis").pipe(
    Effect.as([`https://example.org/${query.replace(/\W+/g, "-")}/1`, `https://example.org/${query.replace(/\W+/g, "-")}/2`]),
    step("search", { kind: "tool_call", input: { query } })
  )

/** The crew. `crashInWriter` makes the first pass die mid-run. */
const crew = (crashInWriter: boolean) =>
  Effect.gen(function*() {
    const run = yield* RunContext
    const plan = yield* withAgent({ name: "planner", agentConfigId: "planner-v1" })(Effect.gen(function*() {
      const outline = yield* llm("plan", `Plan a short report on ${topic}`)
      const subtopics = ["checkpoints and replay", "cost of repeated LLM calls"]
      yield* (yield* AgentContext).setState("outline", outline)
      return subtopics
    }))
    yield* run.setState("plan", plan)
    yield* run.checkpoint("planned")

    const notes = yield* Effect.all(
      plan.map((subtopic, i) =>
        withAgent(`researcher-${i + 1}`)(Effect.gen(function*() {
          const sources = yield* search(subtopic)
          return yield* llm("summarize", `Summarize ${sources.length} sources on ${subtopic}`)
        }))
      ),
      { concurrency: "unbounded" }
    )
    yield* run.setState("notes", notes)
    yield* run.checkpoint("researched")

    return yield* withAgent("writer")(Effect.gen(function*() {
      const draft = yield* llm("draft", `Write a report from: ${notes.join(" | ")}`, { crash: crashInWriter })
      return yield* llm("polish", `Polish: ${draft}`)
    }))
  })

const quiet = Logger.minimumLogLevel(LogLevel.Warning)
const store = Sqlite.layer({ filename: database })

/** Pass 1 (child process): start the run; it dies in the writer. */
const firstPass = withRun({ name: runName, tags: ["demo"], metadata: { topic } })(crew(true)).pipe(
  Effect.provide(Layer.merge(store, quiet))
)

/** Pass 2 (this process): resume from the latest checkpoint, finish, print the tree. */
const secondPass = Effect.gen(function*() {
  const client = yield* MultiRunClient.MultiRunClient
  const checkpoints = yield* Checkpoints
  const [interrupted] = yield* client.listRuns({ name: runName, status: "running", limit: 1 })
  if (interrupted === undefined) return yield* Effect.dieMessage("the first pass left no run to resume")
  const latest = Option.getOrThrow(yield* checkpoints.latest(interrupted.id))
  console.log(`\npass 2: resuming run ${interrupted.id} from checkpoint "${latest.name}" (version ${latest.version})`)

  const report = yield* withRun({ name: runName, resume: { runId: interrupted.id, latest: true } })(crew(false))
  console.log(`  ✓ finished: ${report.slice(0, 72)}…`)

  const run = Option.getOrThrow(yield* client.getRun(interrupted.id))
  const [agents, steps, all] = yield* Effect.all([client.listAgents(run.id), client.listSteps(run.id), client.listCheckpoints(run.id)])
  const now = yield* Clock.currentTimeMillis
  console.log(`\n${RunTree.render({ run, agents, steps, checkpoints: all }, { now }).join("\n")}`)
  const replayed = Run.replayedCount(run.replays ?? [])
  console.log(
    `\n${replayed} steps replayed from the checkpoint instead of calling the model again. ` +
      `Look at it: npx multirun ui --db ${path.relative(process.cwd(), database)}`
  )
}).pipe(Effect.provide(Layer.merge(store, quiet)))

if (process.env.MULTIRUN_DEMO_PASS === "1") {
  Effect.runPromise(firstPass).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
} else {
  fs.rmSync(database, { force: true })
  fs.rmSync(`${database}-wal`, { force: true })
  fs.rmSync(`${database}-shm`, { force: true })
  console.log(`pass 1: a research crew on ${path.relative(process.cwd(), database)} (planner, 2 researchers, writer)`)
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, MULTIRUN_DEMO_PASS: "1" },
    stdio: "inherit"
  })
  console.log(`  pass 1 ended with ${child.signal ?? `exit code ${child.status}`}`)
  Effect.runPromise(secondPass).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
