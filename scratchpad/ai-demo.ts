/**
 * An @effect/ai crew (planner, researcher with a search tool, writer that streams) on the
 * embedded SQLite store, talking to the real `@effect/ai-openai` client pointed at a local stub
 * of the OpenAI Responses API (127.0.0.1 only). The model calls are tracked with no change to
 * them: `TrackedLanguageModel` records each call as a step, `TrackedToolkit` each tool call, and
 * the run is checkpointed after every model call.
 *
 * Pass 1 runs in a child process that dies (SIGKILL) while the writer's answer streams in; pass 2
 * resumes the run: the recorded model and tool calls are replayed (no request reaches the
 * provider for them), the writer's call runs again, and the run is printed as a tree with its
 * tokens and cost (`RunTree` of @multirun/server, the same as `multirun runs show`). Pass 3
 * resumes another run with a different model: the switch is reported as drift.
 *
 * Run: npm run demo:ai
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as Prompt from "@effect/ai/Prompt"
import * as Tool from "@effect/ai/Tool"
import * as Toolkit from "@effect/ai/Toolkit"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { FetchHttpClient } from "@effect/platform"
import { Pricing, TrackedLanguageModel, TrackedToolkit } from "@multirun/ai"
import { Checkpoint, MultiRunClient, RunContext, withAgent, withRun } from "@multirun/core"
import { RunTree } from "@multirun/server"
import { Sqlite } from "@multirun/sql"
import { Clock, Effect, Layer, Logger, LogLevel, Option, Redacted, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as OpenAiStub from "../packages/ai/test/fixtures/OpenAiStub.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const database = path.join(here, "..", ".multirun", "ai-demo.db")
const runName = "ai-crew"
const topic = "durable execution for AI agents"

const Search = Tool.make("Search", {
  description: "Search the web; returns result URLs",
  parameters: { query: Schema.String },
  success: Schema.Array(Schema.String)
})
const Tools = Toolkit.make(Search)
const ToolHandlers = Tools.toLayer({
  Search: ({ query }) => Effect.succeed([1, 2].map((n) => `https://example.org/${query.replace(/\W+/g, "-")}/${n}`))
})

/** The crew: ordinary @effect/ai calls. `crashInWriter` kills the process mid-stream. */
const crew = (crashInWriter: boolean) =>
  Effect.gen(function*() {
    const plan = yield* withAgent("planner")(
      LanguageModel.generateText({ prompt: `Plan a short report on ${topic}` }).pipe(
        TrackedLanguageModel.withStepName("plan"),
        Effect.map((response) => response.text)
      )
    )
    const notes = yield* withAgent("researcher")(Effect.gen(function*() {
      const prompt = Prompt.make(`Find sources for: ${plan}`)
      const search = yield* LanguageModel.generateText({ prompt, toolkit: Tools })
      const summary = yield* LanguageModel.generateText({
        prompt: Prompt.merge(prompt, Prompt.fromResponseParts(search.content)),
        toolkit: Tools
      })
      return summary.text
    }))
    return yield* withAgent("writer")(
      LanguageModel.streamText({ prompt: `Write the report from these notes: ${notes}` }).pipe(
        Stream.filterMap((part) => part.type === "text-delta" ? Option.some(part.delta) : Option.none()),
        Stream.zipWithIndex,
        Stream.tap(([delta, i]) =>
          Effect.sync(() => {
            process.stdout.write(i === 0 ? `  writer streams: ${delta}` : delta)
            if (crashInWriter && i === 3) {
              console.log("\n  ✗ the process dies while the writer's answer streams in (SIGKILL)")
              process.kill(process.pid, "SIGKILL")
            }
          })
        ),
        Stream.runFold("", (text, [delta]) => text + delta),
        Effect.tap(() => Effect.sync(() => console.log()))
      )
    )
  })

/** The stub's answers: a search call when the tool is offered and unused, else an echo. */
const reply = (request: OpenAiStub.StubRequest): OpenAiStub.StubReply => {
  const searched = (request.body.input as Array<{ type?: string }>).some((item) => item.type === "function_call_output")
  if (request.body.tools?.length > 0 && !searched) return { toolCall: { name: "Search", arguments: { query: topic } } }
  const words = request.text.split(/\s+/).slice(-12).join(" ")
  return { text: `Answer: ${words}` }
}

/** A tracked OpenAI model on the stub, checkpointing the run after each call. */
const modelLayer = (apiUrl: string, model: string) =>
  TrackedLanguageModel.model(OpenAiLanguageModel.model(model), { checkpoint: "afterEachCall" }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make("sk-demo"), apiUrl })),
    Layer.provide(FetchHttpClient.layer)
  )

const layers = (apiUrl: string) =>
  Layer.mergeAll(
    modelLayer(apiUrl, "gpt-4o-mini"),
    TrackedToolkit.layer(Tools).pipe(Layer.provide(ToolHandlers)),
    Pricing.layerDefault,
    Sqlite.layer({ filename: database }),
    Logger.minimumLogLevel(LogLevel.Warning)
  )

const money = (usd: number | null) => usd === null ? "cost unknown" : `$${usd.toFixed(6)}`

/** Pass 2: resume the run the child left, finish it, print it. */
const secondPass = (stub: OpenAiStub.OpenAiStub) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient.MultiRunClient
    const [interrupted] = yield* client.listRuns({ name: runName, status: "running", limit: 1 })
    if (interrupted === undefined) return yield* Effect.dieMessage("pass 1 left no run to resume")
    const before = stub.requests.length
    console.log(`\npass 2: resuming run ${interrupted.id} from its latest checkpoint`)
    yield* withRun({ name: runName, resume: { runId: interrupted.id, latest: true } })(crew(false))
    const run = Option.getOrThrow(yield* client.getRun(interrupted.id))
    const [agents, steps, checkpoints] = yield* Effect.all([
      client.listAgents(run.id),
      client.listSteps(run.id),
      client.listCheckpoints(run.id)
    ])
    const now = yield* Clock.currentTimeMillis
    console.log(`\n${RunTree.render({ run, agents, steps, checkpoints }, { now }).join("\n")}`)
    // the recorded steps the resume returned instead of calling the provider or the tool
    const replayed = steps.filter((s) => (run.replays ?? []).some((r) => Checkpoint.covers(r.steps, s.seq)))
    console.log(
      `\nprovider requests: ${before} in pass 1, ${stub.requests.length - before} in pass 2; ` +
        `${replayed.filter((s) => s.kind === "llm_call").length} model calls and ` +
        `${replayed.filter((s) => s.kind === "tool_call").length} tool call replayed from the record`
    )
    console.log(`cost of the run: ${money(run.costUsd)} (prices of ${Pricing.defaultTable.date}, gpt-4o-mini)`)
  })

/** Ends the first attempt of pass 3's run, unfinished so that it can be resumed. */
class Stop {
  readonly _tag = "Stop"
  constructor(readonly runId: string) {}
}

/**
 * Pass 3: a run asks gpt-4o-mini and stops; it is resumed with gpt-4o. The recorded answer is not
 * replayed for another model: the switch is drift, with its path, and the call goes to the provider.
 */
const switchPass = (stub: OpenAiStub.OpenAiStub) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient.MultiRunClient
    const ask = Effect.flatMap(
      LanguageModel.generateText({ prompt: `Summarize ${topic} in one line` }),
      () => Effect.map(RunContext, (run) => run.runId)
    )
    // the first attempt fails after its call (a failed run can be resumed), carrying its run id
    const runId = yield* withRun("ai-model-switch")(Effect.flatMap(ask, (id) => Effect.fail(new Stop(id)))).pipe(
      Effect.catchTag("Stop", (stop) => Effect.succeed(stop.runId))
    )
    const before = stub.requests.length
    yield* withRun({ name: "ai-model-switch", resume: { runId, latest: true } })(ask).pipe(
      Effect.provide(modelLayer(stub.url, "gpt-4o"))
    )
    yield* client.flush
    const steps = yield* client.listSteps(runId)
    const drift = steps.find((s) => typeof s.drift === "string")?.drift ?? "none"
    console.log(
      `\npass 3: run ${runId} asked gpt-4o-mini, resumed with gpt-4o: drift at ${drift}; ` +
        `${stub.requests.length - before} request to the provider on resume (the old model's answer is not replayed)`
    )
  })

/** Runs pass 1 in a child process (asynchronously: the stub answers from this process). */
const firstPass = (apiUrl: string) =>
  Effect.async<string>((resume) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, MULTIRUN_AI_DEMO_PASS: "1", MULTIRUN_AI_DEMO_URL: apiUrl },
      stdio: "inherit"
    })
    child.on("close", (code, signal) => resume(Effect.succeed(signal ?? `exit code ${code}`)))
  })

const fail = (error: unknown) => {
  console.error(error)
  process.exit(1)
}

if (process.env.MULTIRUN_AI_DEMO_PASS === "1") {
  Effect.runPromise(
    withRun({ name: runName, tags: ["demo"] })(crew(true)).pipe(
      Effect.provide(layers(process.env.MULTIRUN_AI_DEMO_URL!))
    )
  ).then(() => process.exit(0), fail)
} else {
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(`${database}${suffix}`, { force: true })
  fs.mkdirSync(path.dirname(database), { recursive: true })
  const main = Effect.gen(function*() {
    const stub = yield* OpenAiStub.make({ reply, responseModel: (model) => `${model}-2024-07-18` })
    console.log(`pass 1: an @effect/ai crew on ${path.relative(process.cwd(), database)}, OpenAI stub at ${stub.url}`)
    console.log(`  pass 1 ended with ${yield* firstPass(stub.url)}`)
    yield* Effect.zipRight(secondPass(stub), switchPass(stub)).pipe(Effect.provide(layers(stub.url)))
  })
  Effect.runPromise(Effect.scoped(main)).catch(fail)
}
