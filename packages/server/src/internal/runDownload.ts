/**
 * A run as a download from the viewer: the JSON lines `multirun export` prints (core's
 * `RunExport`, read through the project's view, so another project's run is not found).
 */
import { HttpServerResponse } from "@effect/platform"
import { Api } from "@multirun/core"
import * as RunExport from "@multirun/core/RunExport"
import { Effect, Option } from "effect"
import { Store } from "../Store.js"

/** A file name for the run's export: `run-ID.jsonl`, with anything but `[A-Za-z0-9._-]` as `_`. */
export const filenameOf = (runId: string): string => `run-${runId.replace(/[^A-Za-z0-9._-]/g, "_")}.jsonl`

/** The run's export in the request's project, as an attachment; 404 for a run it does not hold. */
export const runDownload = (runId: string) =>
  Effect.gen(function*() {
    const project = yield* Api.CurrentProject
    const view = yield* Effect.flatMap(Store, (store) => store.view(project))
    const data = yield* RunExport.read(view, runId)
    if (Option.isNone(data)) return yield* new Api.NotFound({ message: `run ${runId} not found` })
    return HttpServerResponse.text(RunExport.encode(data.value), {
      contentType: "application/x-ndjson; charset=utf-8",
      headers: { "content-disposition": `attachment; filename="${filenameOf(runId)}"` }
    })
  })
