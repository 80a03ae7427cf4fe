/**
 * Encoded records for tests that write to a backend or to the HTTP API directly.
 *
 * @since 0.1.0
 */
import type * as Agent from "../../src/Agent.js"
import * as Event from "../../src/Event.js"
import type * as Run from "../../src/Run.js"
import type * as Step from "../../src/Step.js"

const totals = { stepCount: 0, tokensUsed: 0, costUsd: 0, latencyMs: 0 }

/**
 * A running run record.
 *
 * @since 0.1.0
 */
export const runRecord = (id: string, overrides: Partial<Run.Encoded> = {}): Run.Encoded => ({
  id,
  name: "direct",
  status: "running",
  metadata: {},
  tags: [],
  parentRunId: null,
  forkedFrom: null,
  startedAt: 1_700_000_000_000,
  endedAt: null,
  result: null,
  error: null,
  ...totals,
  ...overrides
})

/**
 * A running agent record.
 *
 * @since 0.1.0
 */
export const agentRecord = (id: string, runId: string, overrides: Partial<Agent.Encoded> = {}): Agent.Encoded => ({
  id,
  runId,
  name: "worker",
  agentConfigId: null,
  metadata: {},
  isDefault: false,
  status: "running",
  startedAt: 1_700_000_000_000,
  endedAt: null,
  result: null,
  error: null,
  ...totals,
  ...overrides
})

/**
 * A completed step record; its input is `{ seq }` and its output `seq * 2`.
 *
 * @since 0.1.0
 */
export const stepRecord = (
  id: string,
  runId: string,
  agentId: string,
  seq: number,
  overrides: Partial<Step.Encoded> = {}
): Step.Encoded => ({
  id,
  runId,
  agentId,
  name: "work",
  kind: "function",
  seq,
  inputHash: `hash-${seq}`,
  input: JSON.stringify({ seq }),
  output: JSON.stringify(seq * 2),
  error: null,
  status: "completed",
  startedAt: 1_700_000_000_000 + seq,
  endedAt: 1_700_000_000_001 + seq,
  latencyMs: 1,
  tokensUsed: 10,
  costUsd: 0.001,
  replayed: false,
  ...overrides
})

/**
 * An ingest batch writing one run, its agent `<runId>-agent` and `steps` steps `<runId>-step-<n>`.
 *
 * @since 0.1.0
 */
export const batchOf = (batchId: string, runId: string, steps: number): Event.Batch =>
  new Event.Batch({
    batchId,
    events: [
      new Event.RunWritten({ eventId: `${batchId}-run`, run: runRecord(runId) }),
      new Event.AgentWritten({ eventId: `${batchId}-agent`, agent: agentRecord(`${runId}-agent`, runId) }),
      ...Array.from({ length: steps }, (_, seq) =>
        new Event.StepWritten({
          eventId: `${batchId}-step-${seq}`,
          step: stepRecord(`${runId}-step-${seq}`, runId, `${runId}-agent`, seq)
        }))
    ]
  })
