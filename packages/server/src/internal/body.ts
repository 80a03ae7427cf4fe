/**
 * Reads a request body from Node's `IncomingMessage` up to a byte limit without destroying the
 * connection when the limit is passed, so the client can still read the 413 answer (Node's own
 * reader destroys the socket, which the client sees as ECONNRESET).
 *
 * Kept instead of `@effect/platform`'s `HttpIncomingMessage.withMaxBodySize` (0.97): past the limit
 * it fails with a `RequestError` (reason `Decode`, not 413) and then destroys the request, which cuts
 * the socket: an 8 MiB body over a 1 KiB limit, whose handler answered that error with 413, got
 * `ECONNRESET` and no answer, with `Content-Length` and chunked alike (PlatformBodyLimit.test.ts,
 * which fails once the platform keeps the connection). Malformed.test.ts requires the answer.
 */
import { Effect } from "effect"
import type * as Http from "node:http"

/** How much of an over-limit body is still read and thrown away, so its sender gets the answer. */
export const drainBytes = 64 * 1024 * 1024

/**
 * Reads and throws away what is left of a refused body (up to {@link drainBytes}, then the
 * connection is cut), so the connection stays usable and the answer reaches the client instead
 * of a reset, without reading an endless body for ever.
 */
export const discard = (source: Http.IncomingMessage): void => {
  let drained = 0
  source.on("error", () => {}) // the sender went away while its rest was discarded: nothing to answer
  source.on("data", (rest: Buffer) => {
    drained += rest.length
    if (drained > drainBytes) source.socket.destroy()
  })
}

/** Why a body could not be read. */
export type ReadFailure =
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Unreadable"; readonly message: string }

/**
 * The body's bytes, or `TooLarge` as soon as more than `maxBytes` arrived (the rest is then
 * {@link discard}ed).
 */
export const read = (source: Http.IncomingMessage, maxBytes: number): Effect.Effect<Uint8Array, ReadFailure> =>
  Effect.async<Uint8Array, ReadFailure>((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
      source.off("close", onClose)
    }
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes <= maxBytes) return void chunks.push(chunk)
      stop()
      chunks.length = 0
      discard(source)
      resume(Effect.fail({ _tag: "TooLarge" }))
    }
    const onEnd = () => {
      stop()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
    }
    const onError = (error: Error) => {
      stop()
      resume(Effect.fail({ _tag: "Unreadable", message: error.message }))
    }
    const onClose = () => {
      stop()
      resume(Effect.fail({ _tag: "Unreadable", message: "the connection closed before the body ended" }))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onError)
    source.on("close", onClose)
  })

/**
 * The offset of the first byte that makes `bytes` invalid UTF-8 (`bytes.length` when the text
 * ends inside a character). Only called on bytes known to be invalid: a binary search over
 * prefixes, decoded in streaming mode so that a prefix ending inside a character is valid.
 */
export const firstInvalidUtf8 = (bytes: Uint8Array): number => {
  const validPrefix = (length: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, length), { stream: true })
      return true
    } catch {
      return false
    }
  }
  let valid = 0
  let invalid = bytes.length + 1
  while (invalid - valid > 1) {
    const middle = Math.floor((valid + invalid) / 2)
    if (validPrefix(middle)) valid = middle
    else invalid = middle
  }
  return Math.min(valid, bytes.length)
}
