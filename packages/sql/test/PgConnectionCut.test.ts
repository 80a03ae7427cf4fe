/**
 * A PostgreSQL connection cut, for real: `PgLayer` talks to PostgreSQL through a TCP proxy that
 * resets every connection at a chosen or random moment (a write batch, right after BEGIN, a
 * COMMIT, a checkpoint, a read, the run's end, or after a random message, which may fall in the
 * layer's build). Each of 10 rounds ends typed (`BackendError("ConnectionLost")` naming the
 * proxy's address, or a `StoreError`) or recovers (the pool reconnects and the run completes with
 * every step stored); none hangs and none dies, and a cut in the middle of a run is survived.
 * After each round a resume from the latest checkpoint works and loses nothing durable.
 * The moments come from a seed (`MULTIRUN_CUT_SEED`, else random), printed with the outcomes.
 */
import { assert, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { BackendError, RunError } from "@multirun/core/Errors"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { type CutTrigger, describePg, pgSchema, pgUrl, type TcpProxy, tcpProxy } from "@multirun/core/test-utils"
import { Cause, Effect, Exit, Option } from "effect"
import { PgLayer } from "../src/index.js"
import { StoreError } from "../src/StoreError.js"

const batches = 4
const perBatch = 50
const payload = "x".repeat(2 * 1024)

/** A small seeded generator (mulberry32), so a seed replays the same moments. */
const generator = (seed: number) => {
  let state = seed >>> 0
  return (below: number): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below)
  }
}

/** Where a round's cut happens: before which operation of which batch it is armed. */
type Phase = "start" | "steps" | "checkpoint" | "read" | "end"

interface Moment extends CutTrigger {
  readonly label: string
  readonly phase: Phase
  readonly batch: number
}

/**
 * The six targeted moments, then four random ones: the cut follows the k-th message the client
 * sends from the start of the round (the layer's build included), k below `messages`, less than
 * an uncut round sends.
 */
const moments = (random: (below: number) => number, messages: number): ReadonlyArray<Moment> => {
  const at = (label: string, phase: Phase, text: string): Moment => ({
    label,
    phase,
    batch: random(batches),
    text,
    forward: random(2) === 0,
    delayMs: random(4)
  })
  return [
    at("a write batch (step INSERT)", "steps", `INSERT INTO "multirun_steps"`),
    { ...at("mid-transaction (after BEGIN)", "steps", "BEGIN"), forward: true },
    at("the COMMIT of a write batch", "steps", "COMMIT"),
    at("a checkpoint", "checkpoint", "multirun_checkpoints"),
    at("a read (listSteps)", "read", "FROM multirun_steps"),
    // the run's last statement: dropped, not forwarded, so the round cannot end before the cut
    { ...at("the run end", "end", `INSERT INTO "multirun_runs"`), batch: batches, forward: false },
    ...Array.from({ length: 4 }, (): Moment => {
      const after = 1 + random(messages - 1)
      return { label: `a random moment (message ${after} of ${messages})`, phase: "start", batch: 0, after }
    })
  ]
}

/** What the first attempt of a round got through before it ended. */
interface Progress {
  runId: string
  checkpointed: number
}

/** 4 batches of 50 steps, each followed by a checkpoint and a read; arms the cut of `moment`. */
const program = (proxy: TcpProxy, progress: Progress, moment?: Moment) => {
  const arm = (phase: Phase, batch: number) =>
    moment !== undefined && moment.phase === phase && moment.batch === batch ? proxy.cutOn(moment) : Effect.void
  return Effect.gen(function*() {
    const run = yield* RunContext
    progress.runId = run.runId
    for (let b = 0; b < batches; b++) {
      yield* arm("steps", b)
      for (let j = 0; j < perBatch; j++) yield* Effect.succeed(payload).pipe(step("work", { input: { b, j } }))
      yield* arm("checkpoint", b)
      yield* run.checkpoint(`after-${b}`)
      progress.checkpointed = (b + 1) * perBatch
      yield* arm("read", b)
      const stored = yield* run.client.listSteps(run.runId)
      assert.isAtLeast(stored.length, (b + 1) * perBatch)
    }
    yield* arm("end", batches)
  })
}

/** How a round ended: recovered, or the typed error it ended with. */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>, location: string, context: string): string => {
  if (Exit.isSuccess(exit)) return "recovered"
  assert.isFalse(Cause.isDie(exit.cause), `${context}: a defect, not a typed error: ${Cause.pretty(exit.cause)}`)
  const error = Option.getOrThrowWith(Cause.failureOption(exit.cause), () => `${context}: ${Cause.pretty(exit.cause)}`)
  assert.notStrictEqual(error, "hung", `${context}: the round hung (no outcome within 30 seconds)`)
  if (error instanceof StoreError) return `StoreError(${error.reason})`
  assert.instanceOf(error, BackendError, `${context}: not a typed store error: ${String(error)}`)
  const backend = error as BackendError
  assert.strictEqual(backend.reason, "ConnectionLost", `${context}: ${backend.message}`)
  assert.strictEqual(backend.location, location, `${context}: ${backend.message}`)
  return "BackendError(ConnectionLost)"
}

/** Bounds an attempt: "hung" after 30 s, without waiting for a stuck fiber to be interrupted. */
const bounded = <A, E>(self: Effect.Effect<A, E>, hung: string) =>
  self.pipe(Effect.disconnect, Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => hung }))

describePg("a PostgreSQL connection cut at random moments", () => {
  it.scopedLive("10 of 10 rounds end typed or recover, none hangs, and a resume keeps everything durable", () =>
    Effect.gen(function*() {
      const seed = Number(process.env.MULTIRUN_CUT_SEED ?? Math.floor(Math.random() * 2 ** 31))
      const target = new URL(pgUrl)
      const proxy = yield* tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const proxied = new URL(pgUrl)
      proxied.port = String(proxy.port)
      const schema = yield* pgSchema
      const viaProxy = PgLayer({ url: proxied.toString(), schema })
      const direct = PgLayer({ url: pgUrl, schema })
      const location = `postgres://postgres@127.0.0.1:${proxy.port}/test (schema ${schema})`
      const attempt = (name: string, progress: Progress, moment?: Moment) =>
        Effect.zipRight(
          moment?.phase === "start" ? proxy.cutOn(moment) : Effect.void,
          withRun(name)(program(proxy, progress, moment)).pipe(Effect.provide(viaProxy))
        ).pipe((self) => bounded(self, "hung"))

      // rounds without a cut (the first migrates the schema): how many messages the client sends in
      // one, so the random cuts fall inside a round whatever its batching
      const counts = yield* Effect.forEach([0, 1], (i) =>
        Effect.gen(function*() {
          const before = yield* proxy.chunks
          yield* attempt(`uncut-${i}`, { runId: "", checkpointed: 0 })
          return (yield* proxy.chunks) - before
        }))
      const messages = Math.floor(Math.min(...counts) * 0.75)

      const outcomes: Array<string> = []
      for (const [round, moment] of moments(generator(seed), messages).entries()) {
        const context = `round ${round}, ${moment.label}, seed ${seed}`
        const progress: Progress = { runId: "", checkpointed: 0 }
        const cutsBefore = yield* proxy.cuts
        const exit = yield* Effect.exit(attempt(`cut-${round}`, progress, moment))
        yield* proxy.disarm
        const outcome = outcomeOf(exit, location, context)
        // one cut in the middle of a run is survived: the writer and the reads retry on a new connection
        if (moment.phase !== "start") assert.strictEqual(outcome, "recovered", context)
        assert.isAbove(yield* proxy.cuts, cutsBefore, `${context}: no cut happened`)
        outcomes.push(`${moment.label}: ${outcome}`)
        if (progress.runId === "") continue

        // the proxy no longer cuts: a resume from the latest checkpoint replays what it covers; a
        // run that recovered and completed is not resumed (RunError("Completed"))
        const resume = withRun({ name: `cut-${round}`, resume: { runId: progress.runId, latest: true } })(
          program(proxy, { runId: "", checkpointed: 0 })
        ).pipe(Effect.provide(viaProxy), (self) => bounded(self, `${context}: the resume hung`))
        if (outcome === "recovered") {
          const refused = yield* Effect.flip(resume)
          assert.strictEqual(refused instanceof RunError && refused.reason, "Completed", context)
        } else {
          yield* resume
        }
        const [run, steps] = yield* Effect.flatMap(
          MultiRunClient,
          (client) => Effect.all([client.getRun(progress.runId), client.listSteps(progress.runId)])
        ).pipe(Effect.provide(direct))
        assert.strictEqual(Option.getOrThrow(run).status, "completed", context)
        const replays = steps.filter((s) => s.replayed).length
        if (outcome !== "recovered") {
          assert.isAtLeast(replays, progress.checkpointed, `${context}: a checkpointed step was lost`)
        }
        const done = new Set(steps.filter((s) => s.status === "completed").map((s) => JSON.stringify(s.input)))
        assert.strictEqual(done.size, batches * perBatch, `${context}: every step is stored`)
      }
      const recovered = outcomes.filter((o) => o.endsWith("recovered")).length
      console.info(
        `[multirun] PostgreSQL cuts (seed ${seed}): ${recovered} recovered, ` +
          `${outcomes.length - recovered} typed, 0 hung\n  ${outcomes.join("\n  ")}`
      )
      assert.strictEqual(outcomes.length, 10)
    }), 600_000)
})
