import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/** Settings every package's vitest config merges. */
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    sequence: { concurrent: false },
    // one temporary directory per test run, checked for leftovers and removed at the end
    globalSetup: [fileURLToPath(new URL("./packages/core/test/utils/globalSetup.ts", import.meta.url))]
  }
})
