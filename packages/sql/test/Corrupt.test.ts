/**
 * Hand corruptions of a SQLite file, each read back as the exact typed error it must give:
 * `BackendError("Corrupt")` naming table and id, `CheckpointError("Corrupt")`, or a
 * `ReplayError("Decode")` — never a defect, never silently accepted.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { Checkpoints } from "@multirun/core/Checkpoints"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { stopAfter, stoppedValue, tempFile } from "@multirun/core/test-utils"
import { Cause, Effect, Exit, Option } from "effect"
import { SqliteLayer } from "../src/index.js"

/**
 * The recorded run every case starts from: two agents, four steps, a checkpoint after them; it
 * stops there (failed), so it can be resumed.
 */
const record = withRun("to-corrupt")(stopAfter(Effect.gen(function*() {
  const run = yield* RunContext
  yield* withAgent("a")(Effect.succeed({ answer: 1 }).pipe(step("first", { input: { q: 1 } })))
  yield* withAgent("b")(Effect.succeed("two").pipe(step("second", { input: { q: 2 } })))
  yield* Effect.succeed(3).pipe(step("third"))
  yield* Effect.succeed(4).pipe(step("fourth"))
  const checkpoint = yield* run.checkpoint("all")
  return { runId: run.runId, checkpointId: checkpoint.id }
}))).pipe(stoppedValue)

/** What reads the corrupted data. */
type Reader = (ids: { readonly runId: string; readonly checkpointId: string }) => Effect.Effect<unknown, unknown, any>

const getRun: Reader = ({ runId }) => Effect.flatMap(MultiRunClient, (c) => c.getRun(runId))
const listRuns: Reader = () => Effect.flatMap(MultiRunClient, (c) => c.listRuns())
const listAgents: Reader = ({ runId }) => Effect.flatMap(MultiRunClient, (c) => c.listAgents(runId))
const listSteps: Reader = ({ runId }) => Effect.flatMap(MultiRunClient, (c) => c.listSteps(runId))
const getCheckpoint: Reader = ({ checkpointId }) => Effect.flatMap(Checkpoints, (c) => c.get(checkpointId))
const listCheckpoints: Reader = ({ runId }) => Effect.flatMap(Checkpoints, (c) => c.list(runId))
const clientGetCheckpoint: Reader = ({ checkpointId }) =>
  Effect.flatMap(MultiRunClient, (c) => c.getCheckpoint(checkpointId))
const clientListCheckpoints: Reader = ({ runId }) => Effect.flatMap(MultiRunClient, (c) => c.listCheckpoints(runId))
/** A resume whose first step is called with another input than recorded, under `onDrift: "fail"`. */
const resumeDrifting: Reader = ({ runId }) =>
  withRun({ name: "to-corrupt", resume: { runId, latest: true } })(
    withAgent("a")(Effect.succeed({ answer: 1 }).pipe(step("first", { input: { q: 99 }, onDrift: "fail" })))
  )
/** A resume from the latest checkpoint that calls the recorded steps again. */
const resume: Reader = ({ runId }) =>
  withRun({ name: "to-corrupt", resume: { runId, latest: true } })(Effect.gen(function*() {
    yield* withAgent("a")(Effect.succeed({ answer: 1 }).pipe(step("first", { input: { q: 1 } })))
    yield* withAgent("b")(Effect.succeed("two").pipe(step("second", { input: { q: 2 } })))
  }))

interface Case {
  readonly name: string
  readonly corrupt: (sql: SqlClient.SqlClient, ids: { runId: string; checkpointId: string }) => Effect.Effect<unknown, unknown>
  readonly read: Reader
  /** `_tag` and `reason` of the error, and text its message must hold. */
  readonly expected: readonly [string, string, string]
}

const runs = "multirun_runs"
const agents = "multirun_agents"
const steps = "multirun_steps"

const cases: ReadonlyArray<Case> = [
  {
    name: "a run record that is not JSON",
    corrupt: (sql, { runId }) => sql`UPDATE multirun_runs SET record = '{"id":' WHERE id = ${runId}`,
    read: getRun,
    expected: ["BackendError", "Corrupt", runs]
  },
  {
    name: "a run record with an unknown status, seen by listRuns",
    corrupt: (sql) => sql`UPDATE multirun_runs SET record = json_set(record, '$.status', 'exploded')`,
    read: listRuns,
    expected: ["BackendError", "Corrupt", "exploded"]
  },
  {
    name: "a run record that is JSON null",
    corrupt: (sql) => sql`UPDATE multirun_runs SET record = 'null'`,
    read: getRun,
    expected: ["BackendError", "Corrupt", runs]
  },
  {
    name: "a run record that is an array",
    corrupt: (sql) => sql`UPDATE multirun_runs SET record = '[1,2]'`,
    read: getRun,
    expected: ["BackendError", "Corrupt", runs]
  },
  {
    name: "a run record whose totals are text",
    corrupt: (sql) => sql`UPDATE multirun_runs SET record = json_set(record, '$.tokensUsed', 'many')`,
    read: getRun,
    expected: ["BackendError", "Corrupt", "tokensUsed"]
  },
  {
    name: "a run record whose start time is text",
    corrupt: (sql, { runId }) =>
      sql`UPDATE multirun_runs SET record = json_set(record, '$.startedAt', 'soon') WHERE id = ${runId}`,
    read: getRun,
    expected: ["BackendError", "Corrupt", runs]
  },
  {
    name: "an agent record whose isDefault is text",
    corrupt: (sql) => sql`UPDATE multirun_agents SET record = json_set(record, '$.isDefault', 'yes')`,
    read: listAgents,
    expected: ["BackendError", "Corrupt", agents]
  },
  {
    name: "an agent record that is not JSON",
    corrupt: (sql) => sql`UPDATE multirun_agents SET record = 'garbage'`,
    read: listAgents,
    expected: ["BackendError", "Corrupt", agents]
  },
  {
    name: "an agent record without its name",
    corrupt: (sql) => sql`UPDATE multirun_agents SET record = json_remove(record, '$.name')`,
    read: listAgents,
    expected: ["BackendError", "Corrupt", "name"]
  },
  {
    name: "a step error that is not JSON",
    corrupt: (sql) => sql`UPDATE multirun_steps SET error = '{' WHERE seq = 1`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", steps]
  },
  {
    name: "a step whose input is NULL",
    corrupt: (sql) => sql`UPDATE multirun_steps SET input = NULL WHERE seq = 0`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", "input"]
  },
  {
    name: "a step whose kind code is unknown",
    corrupt: (sql) => sql`UPDATE multirun_steps SET kind = 77`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", "77"]
  },
  {
    name: "a step whose status is missing",
    corrupt: (sql) => sql`UPDATE multirun_steps SET status = NULL`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", "status"]
  },
  {
    name: "a step whose agent id is a number",
    corrupt: (sql) => sql`UPDATE multirun_steps SET agent_id = 5 WHERE seq = 0`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", "agentId"]
  },
  {
    name: "a step whose replayed flag is text",
    corrupt: (sql) => sql`UPDATE multirun_steps SET flags = 'yes'`,
    read: listSteps,
    expected: ["BackendError", "Corrupt", "replayed"]
  },
  {
    name: "a step whose latency is text, met by a resume",
    corrupt: (sql) => sql`UPDATE multirun_steps SET latency_ms = 'slow'`,
    read: resume,
    expected: ["BackendError", "Corrupt", "latencyMs"]
  },
  {
    name: "a checkpoint payload that is not JSON",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = '{"version": 1'`,
    read: getCheckpoint,
    expected: ["CheckpointError", "Corrupt", "not valid JSON"]
  },
  {
    name: "a checkpoint payload that is JSON null",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = 'null'`,
    read: getCheckpoint,
    expected: ["CheckpointError", "Corrupt", "does not decode"]
  },
  {
    name: "a checkpoint payload of the wrong shape, read by the client",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = json_set(payload, '$.agents', 'none')`,
    read: clientGetCheckpoint,
    expected: ["CheckpointError", "Corrupt", "multirun_checkpoints"]
  },
  {
    name: "a checkpoint payload that is JSON null, listed",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = 'null'`,
    read: listCheckpoints,
    expected: ["CheckpointError", "Corrupt", "multirun_checkpoints"]
  },
  {
    name: "a checkpoint payload that is JSON null, listed by the client",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = 'null'`,
    read: clientListCheckpoints,
    expected: ["CheckpointError", "Corrupt", "multirun_checkpoints"]
  },
  {
    name: "a checkpoint whose version is text",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = json_set(payload, '$.version', 'two')`,
    read: getCheckpoint,
    expected: ["CheckpointError", "Corrupt", "version"]
  },
  {
    name: "a checkpoint whose run state is a number",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = json_set(payload, '$.runState', 5)`,
    read: listCheckpoints,
    expected: ["CheckpointError", "Corrupt", "runState"]
  },
  {
    name: "a checkpoint whose covered ranges are text",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = json_set(payload, '$.covered', 'all')`,
    read: resume,
    expected: ["CheckpointError", "Corrupt", "covered"]
  },
  {
    name: "a checkpoint without agents, met by a resume",
    corrupt: (sql) => sql`UPDATE multirun_checkpoints SET payload = json_remove(payload, '$.agents')`,
    read: resume,
    expected: ["CheckpointError", "Corrupt", "agents"]
  },
  {
    name: "a covered step deleted",
    corrupt: (sql) => sql`DELETE FROM multirun_steps WHERE seq = 2`,
    read: resume,
    expected: ["CheckpointError", "Corrupt", "seq 2"]
  },
  {
    name: "every covered step deleted",
    corrupt: (sql) => sql`DELETE FROM multirun_steps`,
    read: resume,
    expected: ["CheckpointError", "Corrupt", "seq 0, 1, 2, 3"]
  },
  {
    name: "a recorded output that is not JSON, met when it is replayed",
    corrupt: (sql) => sql`UPDATE multirun_steps SET output = '{oops' WHERE seq = 0`,
    read: resume,
    expected: ["ReplayError", "Decode", "not JSON"]
  },
  {
    name: "a recorded input that is not JSON, met by a drifting call",
    corrupt: (sql) => sql`UPDATE multirun_steps SET input = '{oops' WHERE seq = 0`,
    read: resumeDrifting,
    expected: ["ReplayError", "Decode", "seq 0 is not JSON"]
  },
  {
    name: "the run's row deleted, met by a resume",
    corrupt: (sql, { runId }) => sql`DELETE FROM multirun_runs WHERE id = ${runId}`,
    read: resume,
    expected: ["CheckpointError", "NotFound", "no run with this id"]
  }
]

describe("corrupt rows in a SQLite file", () => {
  it("covers at least 25 kinds of corruption", () => assert.isAtLeast(cases.length, 25))
  for (const { corrupt, expected, name, read } of cases) {
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const filename = yield* tempFile()
        const layer = SqliteLayer({ filename })
        const ids = yield* Effect.provide(record, layer)
        yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => corrupt(sql, ids)), layer)
        const exit = yield* Effect.exit(Effect.provide(read(ids), layer))
        assert.isTrue(Exit.isFailure(exit), "the corruption must not be accepted")
        if (Exit.isSuccess(exit)) return
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure), `a typed failure, not a defect: ${Cause.pretty(exit.cause)}`)
        const error = Option.getOrThrow(failure) as { _tag: string; reason: string; message: string }
        assert.deepStrictEqual([error._tag, error.reason], expected.slice(0, 2))
        assert.include(error.message, expected[2])
      }))
  }
})
