/**
 * The "OpenTelemetry" snippet of README.md, type-checked by `tsc -b` (not run). Keep it in step
 * with the README.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Memory, Telemetry, withAgent, withRun } from "@multirun/core"
import { Effect, Layer } from "effect"

export const traced = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(
    Effect.provide(Layer.mergeAll(Memory.layer, Telemetry.layer)),
    // OTLPTraceExporter reads OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS
    Effect.provide(NodeSdk.layer(() => ({
      resource: { serviceName: "my-crew" },
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter())
    })))
  )

export const main = traced(withRun("crew")(withAgent("planner")(Effect.succeed("plan"))))
