#!/usr/bin/env node
// The `multirun` command: runs the TypeScript sources through tsx.
import { register } from "tsx/esm/api"

register()
const { main } = await import("../src/Cli.ts")
main(process.argv)
