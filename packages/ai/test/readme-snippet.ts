/**
 * The "With @effect/ai" snippet of the READMEs, type-checked by `tsc -b` (not run: it would call
 * OpenAI). Keep it in step with README.md and packages/ai/README.md.
 */
import { LanguageModel } from "@effect/ai"
import { OpenAiClient, OpenAiLanguageModel } from "@effect/ai-openai"
import { FetchHttpClient } from "@effect/platform"
import { Pricing, TrackedLanguageModel } from "@multirun/ai"
import { withAgent, withRun } from "@multirun/core"
import { SqliteLayer } from "@multirun/sql"
import { Config, Effect, Layer } from "effect"

// Ordinary @effect/ai code: nothing of multirun in it.
const summarize = (text: string) =>
  LanguageModel.generateText({ prompt: `Summarize: ${text}` }).pipe(Effect.map((response) => response.text))

// The model you already use, tracked: each call is an `llm_call` step (model, prompt, response
// parts, tokens, cost), checkpointed, and replayed instead of paid for again on resume.
const Gpt = TrackedLanguageModel.model(OpenAiLanguageModel.model("gpt-4o-mini"), { checkpoint: "afterEachCall" })
const OpenAi = OpenAiClient.layerConfig({ apiKey: Config.redacted("OPENAI_API_KEY") }).pipe(
  Layer.provide(FetchHttpClient.layer)
)

export const main = (resumeRunId?: string) =>
  withAgent("summarizer")(summarize("The quarterly report …")).pipe(
    withRun(resumeRunId === undefined ? "summaries" : { name: "summaries", resume: { runId: resumeRunId, latest: true } }),
    Effect.provide(Gpt),
    Effect.provide(OpenAi),
    Effect.provide(Pricing.layerDefault), // optional: the shipped table is the default
    Effect.provide(SqliteLayer({ filename: ".multirun/runs.db" }))
  )
