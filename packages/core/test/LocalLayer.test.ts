import { LocalLayer } from "../src/LocalLayer.js"
import { conformance } from "./utils/conformance.js"

conformance("LocalLayer", () => LocalLayer)
