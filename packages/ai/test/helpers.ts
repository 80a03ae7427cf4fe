/** Shared test helpers: the OpenAI client on the stub, stored records, temp dirs, child processes. */
import { FetchHttpClient } from "@effect/platform"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { MultiRunClient } from "@multirun/core"
import { tempDir } from "@multirun/core/test-utils"
import type { Run, Step } from "@multirun/core"
import { Effect, Layer, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { OpenAiStub } from "./fixtures/OpenAiStub.js"

/** The real OpenAI client and language model (with the layer's own settings), pointed at the stub. */
export const openAi = (
  stub: OpenAiStub,
  model = "gpt-4o",
  config?: Omit<OpenAiLanguageModel.Config.Service, "model">
) =>
  OpenAiLanguageModel.model(model, config).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey: Redacted.make("sk-test"), apiUrl: stub.url })),
    Layer.provide(FetchHttpClient.layer)
  )

/**
 * The stored run, its steps in order (executed calls: replayed ones write none), and the recorded
 * steps its resumes replayed, resume by resume, in order of their seq.
 */
export const stored = (runId: string) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient.MultiRunClient
    yield* client.flush
    const run = Option.getOrThrow(yield* client.getRun(runId))
    const steps = [...(yield* client.listSteps(runId))].sort((a, b) => a.seq - b.seq)
    const bySeq = new Map(steps.map((step) => [step.seq, step]))
    const replayed = (run.replays ?? []).flatMap((replay) =>
      replay.steps.flatMap(([from, to]) => Array.from({ length: to - from }, (_, i) => bySeq.get(from + i)!))
    )
    return { run, steps, replayed } as {
      readonly run: Run.Encoded
      readonly steps: ReadonlyArray<Step.Encoded>
      readonly replayed: ReadonlyArray<Step.Encoded>
    }
  })

/** A new temp directory (under the test run's own directory), removed when the scope closes. */
export const scopedTempDir = tempDir("ai")

const require = createRequire(import.meta.url)
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")

/** Bundles a fixture program into one CommonJS file in `dir`, so a child starts fast. */
export const bundleFixture = (name: string, dir: string) =>
  Effect.promise(async () => {
    const { build } = await import("esbuild")
    const outfile = path.join(dir, `${name}.cjs`)
    await build({
      entryPoints: [path.join(fixtures, `${name}.ts`)],
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile,
      external: ["better-sqlite3"],
      // the workspace packages from their TypeScript sources, not a (possibly stale) dist/
      conditions: ["@multirun/source"],
      logLevel: "warning"
    })
    return outfile
  })

const nodeModules = path.dirname(path.dirname(require.resolve("better-sqlite3/package.json")))

/** What a child process did: its `RUN`/`RESULT` lines, exit and stderr. */
export interface ChildOutcome {
  readonly runId: string | undefined
  readonly result: unknown
  readonly signal: NodeJS.Signals | null
  readonly code: number | null
  readonly stderr: string
}

/** Runs a bundled fixture in a child process to its end. */
export const runChild = (script: string, env: Record<string, string>) =>
  Effect.async<ChildOutcome>((resume) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, ...env, NODE_PATH: nodeModules },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("close", (code, signal) => {
      const lines = stdout.split("\n")
      const runId = lines.find((line) => line.startsWith("RUN "))?.slice(4)
      const resultLine = lines.find((line) => line.startsWith("RESULT "))
      resume(Effect.succeed({
        runId,
        result: resultLine === undefined ? undefined : JSON.parse(resultLine.slice(7)),
        signal,
        code,
        stderr
      }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })
