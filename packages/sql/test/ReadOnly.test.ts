/**
 * A read-only disk, for real (a tmpfs remounted read-only; mounting needs root, CI runs as
 * root): a writable opening fails with `StoreError("ReadOnly")` naming the file. `readOnly: true`
 * reads a file without migrating or writing it. (SQLite cannot open a WAL database in a
 * read-only directory at all, since it needs the `-shm` file next to it: that case stays a
 * typed `ReadOnly` error, and the remedy is a copy.)
 */
import { assert, describe, it } from "@effect/vitest"
import { RunContext, step, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { tempDir } from "@multirun/core/test-utils"
import { Effect, Layer, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ProjectView, SqliteClientLayer, SqliteLayer } from "../src/index.js"

const canMount = process.getuid?.() === 0

/** A small tmpfs on a scoped temporary directory, unmounted when the scope closes. */
const disk = Effect.acquireRelease(
  Effect.flatMap(tempDir("ro"), (dir) =>
    Effect.sync(() => {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir])
      return dir
    })),
  (dir) => Effect.sync(() => execFileSync("umount", [dir]))
)

if (!canMount) console.warn("[multirun] skipping the read-only disk test: mounting a tmpfs needs root")

describe.skipIf(!canMount)("a read-only disk under SQLite", () => {
  it.scopedLive("opening for writes is StoreError(ReadOnly) naming the file; readOnly: true reads a copy unchanged", () =>
    Effect.gen(function*() {
      const dir = yield* disk
      const filename = path.join(dir, "runs.db")
      const runId = yield* withRun("written-before")(
        Effect.zipRight(Effect.succeed(1).pipe(step("one")), Effect.map(RunContext, (run) => run.runId))
      ).pipe(Effect.provide(SqliteLayer({ filename })))
      execFileSync("mount", ["-o", "remount,ro", dir])
      const before = fs.readdirSync(dir).sort()

      const error = yield* Effect.flip(Layer.build(SqliteLayer({ filename })))
      assert.deepStrictEqual([error.reason, error.location], ["ReadOnly", filename], error.message)
      assert.include(error.message, "readOnly: true")

      const inPlace = yield* Effect.flip(Layer.build(SqliteClientLayer({ filename, readOnly: true })))
      assert.strictEqual(inPlace.reason, "ReadOnly")
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), before, "nothing was written")

      const copy = path.join(yield* tempDir("copy"), "runs.db")
      fs.copyFileSync(filename, copy)
      const bytes = fs.readFileSync(copy)
      const [run, steps] = yield* Effect.flatMap(MultiRunClient, (view) =>
        Effect.all([view.getRun(runId), view.listSteps(runId)])).pipe(
          Effect.provide(ProjectView.layer()),
          Effect.provide(SqliteClientLayer({ filename: copy, readOnly: true }))
        )
      assert.strictEqual(Option.getOrThrow(run).status, "completed")
      assert.deepStrictEqual(steps.map((s) => s.name), ["one"])
      assert.isTrue(fs.readFileSync(copy).equals(bytes), "the database file is unchanged")
    }))
})
