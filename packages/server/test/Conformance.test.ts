import { layer } from "@effect/vitest"
import { conformance, describePg } from "@multirun/core/test-utils"
import * as TestServer from "./TestServer.js"

// Core's backend conformance suite, through RemoteLayer against a real server (a new project
// per test), once over SQLite and once over PostgreSQL. The tests keep their TestClock; the
// server runs on the live clock.
layer(TestServer.layerSqlite())("RemoteLayer → server on SQLite", (it) => {
  conformance("RemoteLayer → server on SQLite", () => TestServer.remoteLayer(), it)
})

describePg("PostgreSQL", () => {
  layer(TestServer.layerPg())("RemoteLayer → server on PostgreSQL", (it) => {
    conformance("RemoteLayer → server on PostgreSQL", () => TestServer.remoteLayer(), it)
  })
})
