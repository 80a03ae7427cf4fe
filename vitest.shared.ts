import { defineConfig } from "vitest/config"

/**
 * The `@multirun/source` export condition makes `@multirun/*` imports resolve to the TypeScript
 * sources (`src/`) instead of the compiled `dist/`, so tests run without a build. The other
 * names are Vite's default conditions, which a `conditions` list replaces.
 */
const conditions = ["@multirun/source", "module", "node", "development|production"]

/** Settings every package's vitest config merges. */
export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    sequence: { concurrent: false }
  }
})
