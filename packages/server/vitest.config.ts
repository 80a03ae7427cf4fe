import { fileURLToPath } from "node:url"
import { mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

export default mergeConfig(shared, {
  test: {
    // the `multirun` command, bundled once per run for the tests that run it as a process
    globalSetup: [fileURLToPath(new URL("./test/cliSetup.ts", import.meta.url))]
  }
})
