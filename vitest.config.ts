import { defineConfig } from "vitest/config"

/**
 * The root of `vitest run`: every package is a project (its own `vitest.config.ts`, which merges
 * `vitest.shared.ts`), and their test files share one pool of worker processes.
 */
export default defineConfig({
  test: {
    projects: ["packages/*"],
    // Most test files wait (on PostgreSQL, child processes, servers, Chromium) more than they
    // compute, so on a 2-core machine three files at once finish sooner than vitest's default of
    // one (cores - 1). No two files share state: each has its own temporary directories, SQLite
    // files, PostgreSQL schemas and loopback ports. MULTIRUN_TEST_WORKERS sets another number
    // (1 on a machine busy with other work, where the process-heavy tests need the cores).
    maxWorkers: Number(process.env.MULTIRUN_TEST_WORKERS ?? 3),
    minWorkers: 1
  }
})
