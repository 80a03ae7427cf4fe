import { conformance } from "@multirun/core/test-utils"
import { describePg, pgDatabase, remoteForNewProject, serverForFile, sqliteDatabase } from "./utils.js"

// Core's backend conformance suite, through RemoteLayer against a real server (a new project
// per test), once over SQLite and once over PostgreSQL.
conformance("RemoteLayer → server on SQLite", remoteForNewProject(serverForFile(sqliteDatabase())))

describePg("PostgreSQL", () => {
  conformance("RemoteLayer → server on PostgreSQL", remoteForNewProject(serverForFile(pgDatabase())))
})
