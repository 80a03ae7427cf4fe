/**
 * `multirun runs diff A B [--json]`: two runs compared step by step (core's `RunDiff`), on
 * `--db`, `--database-url` or `--url` with `--api-key` like the other read commands; and the
 * `multirun runs` group (`list`, `show` of {@link RunsCli}, and `diff`).
 *
 * @since 0.3.0
 */
import { Args, Command } from "@effect/cli"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import type * as RunDiff from "@multirun/core/RunDiff"
import { Console, Effect } from "effect"
import { withHelp } from "./internal/commandLine.js"
import * as format from "./internal/format.js"
import { differs } from "./internal/compareModel.js"
import * as RunCompare from "./RunCompare.js"
import * as RunsCli from "./RunsCli.js"

/** A run that is not in the source. */
class RunNotFound extends Error {}

/** `#3 completed` (the step's `seq` and status), `—` for no step. */
const sideCell = (side: RunDiff.StepSide | null): string => side === null ? "—" : `#${side.seq} ${side.status}`

/** `draft  completed  ID  tags v1`: a run of a compare. */
const runLine = (run: RunDiff.RunRef): string =>
  `${run.name}  ${run.status}  ${run.id}${run.tags.length === 0 ? "" : `  tags ${run.tags.join(", ")}`}`

/** A delta's cells: steps, latency, tokens and cost, each `A → B (Δ)`. */
const deltaCells = (delta: RunDiff.Delta): Array<string> => [
  `${format.count(delta.a.steps)} → ${format.count(delta.b.steps)}`,
  `${format.duration(delta.a.latencyMs)} → ${format.duration(delta.b.latencyMs)} (${format.signedDuration(delta.latencyMs)})`,
  `${format.count(delta.a.tokensUsed)} → ${format.count(delta.b.tokensUsed)} (${format.signedCount(delta.tokensUsed)})`,
  `${format.totalCost(delta.a.costUsd, delta.a.unpricedSteps)} → ${format.totalCost(delta.b.costUsd, delta.b.unpricedSteps)} (${
    format.signedMoney(delta.costUsd)
  })`
]

/**
 * A compare as the lines `multirun runs diff` prints: the two runs, how many rows differ, the
 * aligned steps with their deltas, and the sums per agent and in total.
 *
 * @since 0.3.0
 */
export const render = (diff: RunDiff.RunDiff): Array<string> => [
  `A  ${runLine(diff.a)}${diff.a.parentRunId === diff.b.id ? "  (fork of B)" : ""}`,
  `B  ${runLine(diff.b)}${diff.b.parentRunId === diff.a.id ? "  (fork of A)" : ""}`,
  `${format.count(diff.differing)} of ${format.count(diff.rows.length)} steps differ`,
  "",
  format.table(
    ["AGENT", "STEP", "#", "A", "B", "DIFFERS", "LATENCY", "TOKENS", "COST"],
    diff.rows.map((row) => [
      row.agent,
      row.name,
      String(row.occurrence + 1),
      sideCell(row.a),
      sideCell(row.b),
      differs(row),
      format.signedDuration(row.latencyMs),
      format.signedCount(row.tokensUsed),
      format.signedMoney(row.costUsd)
    ])
  ),
  "",
  format.table(
    ["AGENT", "STEPS", "LATENCY", "TOKENS", "COST"],
    [
      ...diff.agents.map((agent) => [agent.agent, ...deltaCells(agent)]),
      ["total", ...deltaCells(diff.total)]
    ]
  )
]

/**
 * `multirun runs diff A B [--json]`: the steps of runs A and B aligned by agent, step name and
 * occurrence, what differs, and the deltas B − A; `--json` prints the `RunDiff`.
 *
 * @since 0.3.0
 */
export const runsDiff = Command.make("diff", {
  ...RunsCli.source,
  json: RunsCli.json,
  a: Args.text({ name: "A" }),
  b: Args.text({ name: "B" })
}, (options) =>
  RunsCli.withSource(
    options,
    Effect.gen(function*() {
      const client = yield* MultiRunClient
      const diff = yield* RunCompare.compare(client, options.a, options.b, (runId) => new RunNotFound(`run ${runId} not found`))
      yield* Console.log(options.json ? JSON.stringify(diff, null, 2) : render(diff).join("\n"))
    })
  )).pipe(withHelp("Compare two runs step by step: what differs, and the deltas of latency, tokens and cost", [
    "multirun runs diff RUN_A RUN_B",
    "multirun runs diff PARENT_RUN FORK_RUN --json"
  ]))

/**
 * `multirun runs`.
 *
 * @since 0.2.0
 */
export const runs = Command.make("runs").pipe(
  Command.withSubcommands([RunsCli.runsList, RunsCli.runsShow, runsDiff]),
  withHelp("List, show and compare runs", [
    "multirun runs list",
    "multirun runs show RUN_ID",
    "multirun runs diff RUN_A RUN_B"
  ])
)
