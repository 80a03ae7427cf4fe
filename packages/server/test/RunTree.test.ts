/**
 * The run tree of `multirun runs show` over records a real run wrote (memory backend): totals
 * whose cost is unknown read `unknown`, mixed ones `≥ $x (n unpriced)`, never `$0`; a fork's
 * first line tells what it inherited, counted apart from its own totals.
 */
import { assert, describe, it } from "@effect/vitest"
import { LocalLayer } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { Effect, Option } from "effect"
import * as RunTree from "../src/RunTree.js"
import { recordForkedRuns } from "./fixtures/forkedRuns.js"

/** The tree of a run as `runs show` draws it. */
const tree = (runId: string) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient
    const run = Option.getOrThrow(yield* client.getRun(runId))
    const [agents, steps] = [yield* client.listAgents(runId), yield* client.listSteps(runId)]
    return RunTree.render({ run, agents, steps }, { now: run.endedAt ?? run.startedAt })
  })

describe("RunTree", () => {
  it.effect("unknown totals read unknown, mixed ones ≥ the known sum with the unpriced count; a fork shows what it inherited", () =>
    Effect.gen(function*() {
      const { fork, parent, unpriced } = yield* recordForkedRuns
      const [unpricedTree, parentTree, forkTree] = [yield* tree(unpriced), yield* tree(parent), yield* tree(fork)]
      assert.match(unpricedTree[0]!, /^unpriced {2}completed .* {2}cost unknown$/)
      assert.match(unpricedTree[2]!, /└─ writer {2}completed {2}steps 1 {2}tokens 10 .* {2}cost unknown$/)
      assert.match(parentTree[0]!, /^parent {2}completed .*steps 3 {2}tokens 30 .* {2}cost ≥ \$0\.5000 \(2 unpriced\)$/)
      // the fork executed c only (unpriced); a and b it replayed are its parent's, inherited
      assert.match(
        forkTree[0]!,
        /^fork {2}completed .*steps 1 {2}tokens 10 .* {2}cost unknown {2}\+2 inherited steps \(20 tokens, ≥ \$0\.5000 \(1 unpriced\)\) {2}\(2 replayed\)$/
      )
    }).pipe(Effect.provide(LocalLayer)))
})
