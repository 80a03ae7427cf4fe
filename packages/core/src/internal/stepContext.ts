/**
 * The `StepContext` of steps in this process: the fiber slot that points at the step a fiber is
 * executing, and the service that acts on it.
 */
import { Effect, type Fiber, FiberRef } from "effect"
import type { StepContextService } from "../StepContext.js"
import type { StepState } from "./stepState.js"

/**
 * The step running in a fiber. Each fiber gets its own slot (children copy their parent's
 * current step when forked), so concurrent steps never see each other's context, and entering a
 * step costs one field write instead of a new context.
 */
export class StepSlot {
  constructor(public current: StepState | undefined) {}
}

const rootSlot = new StepSlot(undefined)

const currentStep = FiberRef.unsafeMake<StepSlot>(rootSlot, {
  fork: (slot) => new StepSlot(slot.current),
  join: (parent) => parent
})

/** The fiber's own slot; a root fiber still on the shared initial slot gets one of its own. */
export const slotOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): StepSlot => {
  const slot = fiber.getFiberRef(currentStep)
  if (slot !== rootSlot) return slot
  const own = new StepSlot(undefined)
  // every runtime fiber is a FiberRuntime, which can set a FiberRef in place
  ;(fiber as unknown as { setFiberRef: <A>(ref: FiberRef.FiberRef<A>, value: A) => void }).setFiberRef(currentStep, own)
  return own
}

const withCurrentStep = <A, E>(f: (step: StepState) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.withFiberRuntime((fiber) => {
    const step = fiber.getFiberRef(currentStep).current
    return step === undefined
      ? Effect.dieMessage("StepContext was used outside a step: only the body of `step(...)` may use it")
      : f(step)
  })

/** A step as `StepContext`. */
export const serviceOf = (step: StepState): StepContextService => ({
  step: Effect.succeed(step.info),
  agentContext: Effect.succeed(step.agent.service),
  addUsage: (usage) => Effect.suspend(() => step.addUsage(usage)),
  complete: (result, usage) => Effect.suspend(() => step.complete(result, usage)),
  fail: (error) => Effect.suspend(() => step.fail(error))
})

/** The `StepContext` every run provides: it acts on the step running in the calling fiber. */
export const stepContext: StepContextService = {
  step: withCurrentStep((step) => Effect.succeed(step.info)),
  agentContext: withCurrentStep((step) => Effect.succeed(step.agent.service)),
  addUsage: (usage) => withCurrentStep((step) => step.addUsage(usage)),
  complete: (result, usage) => withCurrentStep((step) => step.complete(result, usage)),
  fail: (error) => withCurrentStep((step) => step.fail(error))
}
