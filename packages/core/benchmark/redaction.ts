/**
 * Redaction benchmark: the per-step cost of `step()` on LocalLayer without a `Redaction` layer
 * and with a typical rule set (the built-in patterns and two paths), on inputs and outputs without
 * secrets and with some, and the replay rate of steps whose stored input was redacted. Costs are
 * CPU time per step (user + system, so other processes on the machine weigh less), the median of
 * several rounds, the variants interleaved in each round.
 * Run: `npm run bench` (compiled, on dist), or `npx tsx --conditions=@multirun/source packages/core/benchmark/redaction.ts`
 */
import { Effect, Layer } from "effect"
import { LocalLayer, Redaction, RunContext, step, withAgent, withRun } from "@multirun/core"

const N = 50_000
const ROUNDS = 7

const rules = Redaction.layer([
  ...Redaction.defaults,
  Redaction.path("input.headers.authorization"),
  Redaction.path("output.**.email")
])

/** A chat-like input and output; with `secret`, an email and an API key in them. */
const call = (i: number, secret: boolean) =>
  Effect.succeed({ text: secret ? `write to jane${i}@example.com` : `answer ${i}`, tokens: 12 }).pipe(
    step("llm", {
      kind: "llm_call",
      input: {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: secret ? `my key is sk-proj-A1b2C3d4E5f6G7h8I9j0K${i}` : `question ${i}` }],
        temperature: 0.2
      },
      usage: (r) => ({ tokensUsed: r.tokens })
    })
  )

const program = (count: number, secret: boolean) =>
  withRun("bench")(withAgent("agent")(Effect.gen(function*() {
    for (let i = 0; i < count; i++) yield* call(i, secret)
  })))

const variants = {
  "step() without Redaction": (n: number) => program(n, false).pipe(Effect.provide(LocalLayer)),
  "step() with Redaction, no secret": (n: number) =>
    program(n, false).pipe(Effect.provide(Layer.merge(LocalLayer, rules))),
  "step() with Redaction, secrets in input and output": (n: number) =>
    program(n, true).pipe(Effect.provide(Layer.merge(LocalLayer, rules)))
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const cpuMicros = async (effect: Effect.Effect<unknown, unknown>): Promise<number> => {
  const start = process.cpuUsage()
  await Effect.runPromise(effect)
  const used = process.cpuUsage(start)
  return used.user + used.system
}

/** Records `count` steps with secrets in their inputs, then replays them `rounds` times: median steps per CPU second. */
const replay = (count: number, rounds: number) =>
  withRun("replay-bench")(withAgent("agent")(Effect.gen(function*() {
    const ctx = yield* RunContext
    const run = Effect.gen(function*() {
      for (let i = 0; i < count; i++) {
        yield* Effect.succeed(i).pipe(step("tool", { input: { key: `sk-proj-A1b2C3d4E5f6G7h8I9j0K${i}` } }))
      }
    })
    yield* run
    const checkpoint = yield* ctx.checkpoint("all")
    const rates: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      yield* ctx.restoreFromCheckpoint(checkpoint.id)
      const start = process.cpuUsage()
      yield* run
      const used = process.cpuUsage(start)
      if (yield* ctx.isReplaying) throw new Error("replay did not consume the cache")
      rates.push(count / ((used.user + used.system) / 1e6))
    }
    return median(rates)
  }))).pipe(Effect.provide(Layer.merge(LocalLayer, rules)))

const main = async () => {
  const samples = new Map<string, Array<number>>(Object.keys(variants).map((name) => [name, []]))
  for (const variant of Object.values(variants)) await Effect.runPromise(variant(5_000)) // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, variant] of Object.entries(variants)) samples.get(name)!.push((await cpuMicros(variant(N))) / N)
  }
  const replayRate = await Effect.runPromise(replay(10_000, ROUNDS))
  console.log(`redaction (CPU time, median of ${ROUNDS} rounds of ${N.toLocaleString("en")} steps):`)
  const base = median(samples.get("step() without Redaction")!)
  for (const [name, values] of samples) {
    const us = median(values)
    console.log(`  ${name.padEnd(52)} ${us.toFixed(2)} µs/step (+${(us - base).toFixed(2)})`)
  }
  console.log(`  ${"replay of 10,000 steps with redacted inputs".padEnd(52)} ${Math.round(replayRate).toLocaleString("en")} steps/s`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
