#!/usr/bin/env node
// The `multirun` command. Installed, it runs the compiled JavaScript in dist/ on plain Node.js.
// Inside the repository, `node --import tsx --conditions=@multirun/source bin/multirun.js` runs
// the TypeScript sources instead (the package imports itself by name, so the condition decides).
import { main } from "@multirun/server/Cli"

main(process.argv)
