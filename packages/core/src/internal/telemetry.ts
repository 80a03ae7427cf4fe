/**
 * Spans of runs, agents and steps when a run has a `Telemetry` service: opened with the tracer
 * the run started under, nested (a step inside its agent, an agent inside its run), ended with
 * the outcome. The service names and annotates them; nothing here runs for a run without one.
 */
import { Cause, type Clock, Context, Effect, Exit, FiberId, FiberRef, Option, Tracer } from "effect"
import type * as Step from "../StepRecord.js"
import type { StepContextService } from "../StepContext.js"
import type { AgentFacts, Attributes, RunFacts, SpanSpec, StepFacts, TelemetryService } from "../Telemetry.js"
import type { AgentState } from "./agent.js"
import type { Ending } from "./errorInfo.js"
import type { RunState } from "./runState.js"
import type { StepState } from "./stepState.js"
import * as Totals from "./totals.js"

/** A span this runtime opened, and the facts its end attributes are computed from. */
export interface Traced<F> {
  readonly span: Tracer.Span
  readonly facts: F
}

const setAll = (span: Tracer.Span, attributes: Attributes): void => {
  for (const key in attributes) span.attribute(key, attributes[key])
}

/** The span in a fiber's context, if any. */
const currentSpan = (context: Context.Context<never>): Tracer.AnySpan | undefined =>
  context.unsafeMap.get(Tracer.ParentSpan.key) as Tracer.AnySpan | undefined

/**
 * The parent of a new span: the fiber's current span when it lies inside `owner` (the user's own
 * spans in an agent's program stay in between), else `owner` itself.
 */
const parentWithin = (context: Context.Context<never>, owner: Tracer.AnySpan): Tracer.AnySpan => {
  const current = currentSpan(context)
  let span = current
  while (span !== undefined) {
    if (span === owner) return current!
    span = span._tag === "Span" ? Option.getOrUndefined(span.parent) : undefined
  }
  return owner
}

/** The exit a run's, agent's or manual step's span ends with, from how it ended. */
const exitOf = (ending: Ending): Exit.Exit<unknown, unknown> => {
  if (ending.status === "completed") return Exit.void
  if (ending.status === "interrupted") return Exit.failCause(Cause.interrupt(FiberId.none))
  const error = new Error(ending.error?.message ?? "failed")
  if (ending.error?.tag != null) error.name = ending.error.tag
  return Exit.fail(error)
}

/** The telemetry of one run: its service, the tracer and clock its spans use, and its own span. */
export class RunTelemetry {
  /** The run's span, open from the run's start to its end. */
  run: Traced<RunFacts> | undefined = undefined
  /** Spans of steps driven by hand, closed when they are recorded. */
  private readonly manual = new Map<StepState, Traced<StepFacts>>()

  constructor(readonly service: TelemetryService, readonly tracer: Tracer.Tracer, readonly clock: Clock.Clock) {}

  /** Opens a span now, with the run's tracer and clock. */
  open(spec: SpanSpec, parent: Tracer.AnySpan | undefined): Tracer.Span {
    const span = this.tracer.span(
      spec.name,
      Option.fromNullable(parent),
      Context.empty(),
      [],
      this.clock.unsafeCurrentTimeNanos(),
      spec.kind ?? "internal"
    )
    setAll(span, spec.attributes)
    return span
  }

  /** Sets the end attributes and ends a span once. */
  close(span: Tracer.Span, exit: Exit.Exit<unknown, unknown>, attributes: Attributes): void {
    if (span.status._tag === "Ended") return
    setAll(span, attributes)
    span.end(this.clock.unsafeCurrentTimeNanos(), exit)
  }

  /** Opens the run's span, under the span current where the run starts. */
  openRun(run: RunState, resumed: boolean): Effect.Effect<void> {
    return Effect.withFiberRuntime((fiber) => {
      const facts: RunFacts = { runId: run.runId, name: run.setup.name, resumed, forkedFrom: run.forkedFrom }
      this.run = { span: this.open(this.service.run(facts), currentSpan(fiber.currentContext)), facts }
      return Effect.void
    })
  }

  /** Ends the run's span with the program's exit and the run's totals. */
  closeRun(run: RunState, exit: Exit.Exit<unknown, unknown>): void {
    const traced = this.run
    if (traced === undefined) return
    this.close(traced.span, exit, this.service.runEnd(traced.facts, Totals.toRecord(run.totals)))
  }

  /**
   * Opens an agent's span: under the span current where `withAgent` starts it when that span is
   * inside the run's, under the run's span otherwise (always, for the default agent).
   */
  openAgent(agent: AgentState, context: Context.Context<never> | undefined): void {
    const facts: AgentFacts = {
      runId: agent.run.runId,
      agentId: agent.id,
      name: agent.name,
      isDefault: agent.setup.isDefault
    }
    const owner = this.run?.span
    const parent = owner === undefined || context === undefined ? owner : parentWithin(context, owner)
    agent.traced = { span: this.open(this.service.agent(facts), parent), facts }
  }

  /** Ends an agent's span as the agent ended, with its totals. */
  closeAgent(agent: AgentState, ending: Ending): void {
    const traced = agent.traced
    if (traced === undefined) return
    this.close(traced.span, exitOf(ending), this.service.agentEnd(traced.facts, Totals.toRecord(agent.totals)))
  }

  /** A step's span: under the fiber's current span when that is inside the agent's, else under the agent's. */
  private openStep(context: Context.Context<never>, agent: AgentState, facts: StepFacts): Tracer.Span {
    const owner = agent.traced?.span
    return this.open(this.service.step(facts), owner === undefined ? currentSpan(context) : parentWithin(context, owner))
  }

  /** Runs an executed step (`effect`: its body, then its record) inside the step's span. */
  executed<A, E, R>(
    context: Context.Context<never>,
    step: StepState,
    input: unknown,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> {
    const facts = stepFacts(step, input)
    const span = this.openStep(context, step.agent, facts)
    // what `Effect.withParentSpan` does, with the context set and restored directly instead of
    // through `Effect.locally` (its acquire/release is a good part of a traced step's own cost);
    // the restore runs on every exit, interruption included
    return Effect.zipRight(
      FiberRef.set(FiberRef.currentContext, Context.add(context, Tracer.ParentSpan, span)),
      Effect.onExit(effect, (exit) =>
        Effect.zipRight(
          FiberRef.set(FiberRef.currentContext, context),
          Effect.sync(() => this.close(span, exit, this.service.stepEnd(facts, step.usageFields())))
        ))
    )
  }

  /** A replayed call (`effect`: its recorded value) inside a span that says it was replayed. */
  replayed<A, E, R>(
    agent: AgentState,
    record: { readonly id: string; readonly seq: number; readonly hash: string },
    name: string,
    kind: Step.StepKind,
    input: unknown,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> {
    return Effect.withFiberRuntime((fiber) => {
      const facts: StepFacts = {
        runId: agent.run.runId,
        agentId: agent.id,
        agentName: agent.name,
        stepId: record.id as StepFacts["stepId"],
        name,
        kind,
        seq: record.seq,
        inputHash: record.hash,
        replayed: true,
        input
      }
      const span = this.openStep(fiber.currentContext, agent, facts)
      return Effect.onExit(effect, (exit) => Effect.sync(() => this.close(span, exit, this.service.stepEnd(facts, Totals.noUsageFields))))
    })
  }

  /** A step driven by hand: its span opens now and ends when `complete` or `fail` records it. */
  manualStep(context: Context.Context<never>, step: StepState, input: unknown, service: StepContextService): StepContextService {
    const facts = stepFacts(step, input)
    const traced = { span: this.openStep(context, step.agent, facts), facts }
    this.manual.set(step, traced)
    const settle = <E>(effect: Effect.Effect<void, E>, failure?: { readonly error: unknown }): Effect.Effect<void, E> =>
      Effect.onExit(effect, (exit: Exit.Exit<void, E>) =>
        Effect.sync(() => {
          if (!step.done) return
          this.manual.delete(step)
          const ended: Exit.Exit<unknown, unknown> = Exit.isSuccess(exit) && failure !== undefined ? Exit.fail(failure.error) : exit
          this.close(traced.span, ended, this.service.stepEnd(facts, step.usageFields()))
        }))
    return {
      ...service,
      complete: (result, usage) => settle(service.complete(result, usage)),
      fail: (error) => settle(service.fail(error), { error })
    }
  }

  /** Ends the spans of steps driven by hand that the run's end cut off. */
  cutOff(steps: Iterable<StepState>): void {
    for (const step of steps) {
      const traced = this.manual.get(step)
      if (traced === undefined) continue
      this.manual.delete(step)
      this.close(traced.span, exitOf({ status: "interrupted", result: null, error: null }), this.service.stepEnd(traced.facts, step.usageFields()))
    }
  }
}

const stepFacts = (step: StepState, input: unknown): StepFacts => {
  const { agent, info } = step
  return {
    runId: agent.run.runId,
    agentId: agent.id,
    agentName: agent.name,
    stepId: info.id,
    name: info.name,
    kind: info.kind,
    seq: info.seq,
    inputHash: info.inputHash,
    replayed: false,
    input
  }
}

