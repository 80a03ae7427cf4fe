/**
 * Vitest setup file of every package (see `vitest.shared.ts`): what Effect's default logger
 * writes during a test (the warnings and errors the code under test logs on purpose, e.g. an
 * unreachable server, a failed write it retries) is kept, not printed, and written to stderr
 * under the test's name only when the test fails. `it.effect` already leaves the default logger
 * out; this quiets `it.live`, `it.scopedLive`, `layer(...)` blocks and the servers they start. A
 * test that is about a log line captures it itself with `Logger.replace(Logger.defaultLogger, …)`
 * and asserts on it; that replacement is unaffected.
 *
 * @since 0.1.0
 */
import { Logger } from "effect"
import { beforeEach } from "vitest"

/** The lines the default logger wrote since the current test began. */
let captured: Array<string> = []

/**
 * The default logger of this worker, kept: its `log` formats the line it would print and
 * stores it. `Logger.defaultLogger` is the one object every fiber's default logger set holds,
 * so changing its `log` reaches fibers of every runtime, the test's own and a server's.
 */
const defaultLogger = Logger.defaultLogger as { log: (options: Logger.Logger.Options<unknown>) => void }
defaultLogger.log = (options) => {
  captured.push(Logger.stringLogger.log(options))
}

beforeEach((context) => {
  captured = []
  context.onTestFailed(() => {
    if (captured.length > 0) process.stderr.write(`logged during "${context.task.name}":\n${captured.join("\n")}\n`)
  })
})
