#!/usr/bin/env node
// `npm run build:viewer`: bundles the run viewer into packages/server/viewer/dist (not committed).
import { register } from "tsx/esm/api"

register()
const { writeBundle } = await import("../src/internal/viewerBundle.ts")
const started = performance.now()
const dist = await writeBundle()
console.log(`viewer bundled into ${dist} in ${Math.round(performance.now() - started)} ms`)
