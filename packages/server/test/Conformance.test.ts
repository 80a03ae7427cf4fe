import { layer } from "@effect/vitest"
import { conformance } from "@multirun/core/test-utils"
import * as TestServer from "./TestServer.js"

// Core's backend conformance suite, through RemoteLayer against a real server (a new project
// per test) over SQLite; ConformancePg.test.ts runs it over PostgreSQL, in another worker. The
// tests keep their TestClock; the server runs on the live clock.
layer(TestServer.layerSqlite())("RemoteLayer → server on SQLite", (it) => {
  conformance("RemoteLayer → server on SQLite", () => TestServer.remoteLayer(), it)
})
