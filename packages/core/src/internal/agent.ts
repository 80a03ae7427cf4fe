/**
 * An agent in this process: its record, totals and state, and the `AgentContextService` that
 * the agent's program sees.
 */
import { Effect, Schema } from "effect"
import * as Agent from "../Agent.js"
import type { AgentContextService } from "../AgentContext.js"
import type * as Checkpoint from "../Checkpoint.js"
import { BackendError } from "../Errors.js"
import type { AgentId } from "../Ids.js"
import type { Metadata } from "../Model.js"
import type { AgentFacts } from "../Telemetry.js"
import * as StepRecord from "../StepRecord.js"
import { capture } from "./checkpoint.js"
import { type Ending, endingOf, errorInfo, resultText } from "./errorInfo.js"
import type { RunState } from "./runState.js"
import { StateStore } from "./state.js"
import { getStepResult, runStep, startStep } from "./step.js"
import type { Traced } from "./telemetry.js"
import * as Totals from "./totals.js"

const decodeAgent = Schema.decodeSync(Agent.Agent)
const decodeSteps = Schema.decodeUnknown(Schema.Array(StepRecord.Step))

/** What an agent is made from. */
export interface AgentSetup {
  readonly id: AgentId
  readonly name: string
  readonly agentConfigId: string | null
  readonly metadata: Metadata
  readonly isDefault: boolean
  readonly startedAt: number
}

/** An agent in this process. */
export class AgentState {
  readonly id: AgentId
  readonly name: string
  ending: Ending | undefined = undefined
  endedAt: number | null = null
  totals: Totals.MutableTotals = Totals.zero()
  readonly state: StateStore
  /** The agent's span, when the run has telemetry. */
  traced: Traced<AgentFacts> | undefined = undefined
  /** The agent as its program sees it. */
  readonly service: AgentContextService

  constructor(readonly run: RunState, readonly setup: AgentSetup) {
    this.id = setup.id
    this.name = setup.name
    this.state = new StateStore(`agent:${setup.name}`)
    this.service = makeService(this)
  }

  get ended(): boolean {
    return this.ending !== undefined
  }

  record(): Agent.Encoded {
    const { setup } = this
    return {
      id: this.id,
      runId: this.run.runId,
      name: this.name,
      agentConfigId: setup.agentConfigId,
      metadata: setup.metadata,
      isDefault: setup.isDefault,
      status: this.ending?.status ?? "running",
      startedAt: setup.startedAt,
      endedAt: this.endedAt,
      result: this.ending?.result ?? null,
      error: this.ending?.error ?? null,
      ...Totals.toRecord(this.totals)
    }
  }

  snapshot(): Checkpoint.AgentSnapshot {
    return {
      agentId: this.id,
      name: this.name,
      isDefault: this.setup.isDefault,
      state: this.state.snapshot(),
      ...Totals.toRecord(this.totals)
    }
  }

  /** Ends the agent once and writes its record. */
  end(ending: Ending): Effect.Effect<void, BackendError> {
    return Effect.suspend(() => {
      if (this.ending !== undefined) return Effect.void
      this.ending = ending
      this.endedAt = this.run.now()
      this.run.telemetry?.closeAgent(this, ending)
      return this.run.client.writeAgent(this.record())
    })
  }
}

const makeService = (agent: AgentState): AgentContextService => ({
  agent: Effect.sync(() => decodeAgent(agent.record())),
  runContext: agent.run.service,
  get span() {
    return agent.traced?.span
  },
  isDefault: agent.setup.isDefault,
  isReplaying: agent.run.service.isReplaying,
  steps: agent.run.client.listSteps(agent.run.runId).pipe(
    Effect.flatMap((steps) => decodeSteps(steps.filter((step) => step.agentId === agent.id))),
    Effect.mapError((error) =>
      error._tag === "ParseError"
        ? new BackendError({ operation: "listSteps", detail: `stored steps do not decode: ${error.message}` })
        : error
    )
  ),
  setState: agent.state.setState as AgentContextService["setState"],
  getState: agent.state.getState as AgentContextService["getState"],
  deleteState: agent.state.deleteState,
  startStep: (options) => startStep(agent, options),
  getStepResult: (name, input) => getStepResult(agent, name, input),
  runStep: (name, options, body) => runStep(agent, name, options, body),
  checkpoint: (name, options) => capture(agent.run, name, options, agent.id),
  end: (exit) => agent.end(endingOf(exit)),
  complete: (result) => agent.end({ status: "completed", result: resultText(result), error: null }),
  fail: (error) => agent.end({ status: "failed", result: null, error: errorInfo(error) })
})
