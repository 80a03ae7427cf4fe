import { layer } from "@effect/vitest"
import { conformance, describePg } from "@multirun/core/test-utils"
import * as TestServer from "./TestServer.js"

// Core's backend conformance suite, through RemoteLayer against a real server (a new project
// per test) over PostgreSQL; a file of its own, so that it runs beside the SQLite one
// (Conformance.test.ts). The tests keep their TestClock; the server runs on the live clock.
describePg("PostgreSQL", () => {
  layer(TestServer.layerPg())("RemoteLayer → server on PostgreSQL", (it) => {
    conformance("RemoteLayer → server on PostgreSQL", () => TestServer.remoteLayer(), it)
  })
})
