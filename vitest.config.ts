import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

/**
 * The files that take longest, longest first (as `npm test` reports their durations). They
 * start before every other file, so the short ones fill the workers around them and the run does
 * not end with one long file on one worker. vitest orders a run by the durations of the previous
 * one when it has them (node_modules/.vite), else by file size; a fresh clone (CI) has none.
 */
const longestFirst = [
  "server/test/OutsideInstall.test.ts",
  "server/test/FreshClone.test.ts",
  "sql/test/crash.test.ts",
  "server/test/RunsCli.test.ts",
  "server/test/OutboxKill.test.ts",
  "server/test/Export.test.ts",
  "server/test/ConformancePg.test.ts",
  "server/test/RetentionCli.test.ts",
  "sql/test/PgLayer.test.ts",
  "server/test/Cli.test.ts",
  "server/test/Conformance.test.ts",
  "server/test/Readme.test.ts"
]

/** Orders the files as vitest does, with the `longestFirst` files moved ahead in their order. */
class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const rank = (spec: TestSpecification) => {
      const index = longestFirst.findIndex((file) => spec.moduleId.endsWith(`/packages/${file}`))
      return index === -1 ? longestFirst.length : index
    }
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

/**
 * The root of `vitest run`: every package is a project (its own `vitest.config.ts`, which merges
 * `vitest.shared.ts`), and their test files share one pool of worker processes.
 */
export default defineConfig({
  test: {
    projects: ["packages/*"],
    sequence: { sequencer: LongestFirst },
    // Most test files wait (on PostgreSQL, child processes, servers, Chromium) more than they
    // compute, so on a 2-core machine three files at once finish sooner than vitest's default of
    // one (cores - 1). No two files share state: each has its own temporary directories, SQLite
    // files, PostgreSQL schemas and loopback ports. MULTIRUN_TEST_WORKERS sets another number
    // (1 on a machine busy with other work, where the process-heavy tests need the cores).
    maxWorkers: Number(process.env.MULTIRUN_TEST_WORKERS ?? 3),
    minWorkers: 1
  }
})
