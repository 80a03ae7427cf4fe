/**
 * Test utilities shared by every package's tests (`@multirun/core/test-utils`): the backend
 * conformance suite, scoped temporary directories, the PostgreSQL of the tests, a TCP proxy that
 * cuts connections, child processes (bundled fixtures, or the sources through tsx with
 * `sourceNodeArgs`), bounded waiting, record builders, the redaction scenario, and first attempts
 * stopped unfinished so they can be resumed.
 *
 * @since 0.1.0
 */
export { bundleFixture, type Child, ChildExited, type ChildExit, sourceNodeArgs, spawnChild } from "./Child.js"
export { type BackendLayer, conformance, type ConformanceIt } from "./conformance.js"
export { eventually } from "./Eventually.js"
export { describePg, dropSchema, isCI, pgReachable, pgSchema, pgUrl } from "./Postgres.js"
export { agentRecord, batchOf, runRecord, stepRecord } from "./records.js"
export { assertNoSecrets, type Executions, recordSecrets, resumeSecrets, secretRules, secrets } from "./redaction.js"
export { type CutTrigger, type TcpProxy, tcpProxy } from "./TcpProxy.js"
export { assertNone, assertSome } from "./Options.js"
export { type Recorded, recordAndRead } from "./recorded.js"
export { Stopped, stopAfter, stoppedValue } from "./Stopped.js"
export { canMount, runDirVariable, smallDisk, tempDir, tempFile, tempPrefix, tempRoot } from "./TempDir.js"
