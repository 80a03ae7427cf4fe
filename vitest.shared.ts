import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

/**
 * The `@multirun/source` export condition makes `@multirun/*` imports resolve to the TypeScript
 * sources (`src/`) instead of the compiled `dist/`, so tests run without a build. The other
 * names are Vite's default conditions, which a `conditions` list replaces.
 */
const conditions = ["@multirun/source", "module", "node", "development|production"]

/** Settings every package's vitest config merges. */
export default defineConfig({
  resolve: {
    conditions,
    // core's test utilities (the conformance suite) are not published: the other packages'
    // tests reach them by this name inside the repository only (`paths` in tsconfig.base.json)
    alias: {
      "@multirun/core/test-utils": fileURLToPath(new URL("./packages/core/test/utils/index.ts", import.meta.url))
    }
  },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    sequence: { concurrent: false },
    // one temporary directory per test run, checked for leftovers and removed at the end
    globalSetup: [fileURLToPath(new URL("./packages/core/test/utils/globalSetup.ts", import.meta.url))],
    // what Effect's default logger writes in a test is kept, and printed only if the test fails
    setupFiles: [fileURLToPath(new URL("./packages/core/test/utils/testLogger.ts", import.meta.url))]
  }
})
