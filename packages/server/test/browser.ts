/**
 * Headless Chromium for the viewer tests (see `chromium.ts`, which the benchmark uses alone):
 * browser tests skipped where Chromium is missing, and a browser whose profile lives in a
 * scoped temporary directory.
 */
import { isCI, tempDir } from "@multirun/core/test-utils"
import { describe, it } from "@effect/vitest"
import { type Context, Effect } from "effect"
import type { Scope } from "effect"
import { type Browser, defaultViewport, executablePath, hasChromium, launchIn } from "./chromium.js"

export { type Browser, executablePath, hasChromium } from "./chromium.js"

/**
 * `describe` that runs only where Chromium is installed: skipped elsewhere with a printed reason,
 * a failure on CI (where `.ci/run` installs it).
 */
export const describeChromium = (name: string, body: () => void): void => {
  if (hasChromium()) {
    describe(name, body)
    return
  }
  if (isCI) {
    describe(name, () => {
      it("Chromium is installed (required when CI=true)", () => {
        throw new Error(`the viewer's browser tests need Chromium at ${executablePath} (apt-get install chromium)`)
      })
    })
    return
  }
  console.warn(`[multirun] skipping "${name}": no Chromium at ${executablePath} (apt-get install chromium)`)
  describe.skip(name, body)
}

/**
 * Chromium in the scope: its profile and temporary files live in a scoped temporary directory;
 * closing the scope closes the browser (its processes end) and then removes the directory.
 */
export const scoped = (viewport = defaultViewport): Effect.Effect<Browser, never, Scope.Scope> =>
  Effect.flatMap(tempDir("cr"), (dir) =>
    Effect.acquireRelease(
      Effect.promise(() => launchIn(dir, viewport)),
      (browser) => Effect.promise(() => browser.close())
    ))

/** A browser test's body, written against the browser's promises, given the fixture `tag` provides. */
export const withFixture = <I, A>(tag: Context.Tag<I, A>) => (body: (fixture: A) => Promise<void>) =>
  Effect.flatMap(tag, (fixture) => Effect.promise(() => body(fixture)))
