/**
 * Test utilities shared by every backend's tests.
 *
 * @since 0.1.0
 */
export { conformance } from "./conformance.js"
export type { BackendLayer } from "./conformance.js"
