/**
 * Reads a request body from Node's `IncomingMessage` up to a byte limit without destroying the
 * connection when the limit is passed, so the client can still read the 413 answer (Node's own
 * reader destroys the socket, which the client sees as ECONNRESET).
 */
import { Effect } from "effect"
import type * as Http from "node:http"

/** How much of an over-limit body is still read and thrown away, so its sender gets the answer. */
export const drainBytes = 64 * 1024 * 1024

/** Why a body could not be read. */
export type ReadFailure =
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Unreadable"; readonly message: string }

/**
 * The body's bytes, or `TooLarge` as soon as more than `maxBytes` arrived. An over-limit body's
 * rest is read and discarded in the background (up to 64 MiB more, then the connection is cut),
 * so the connection stays usable and the answer reaches the client.
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
      let drained = 0
      source.on("error", () => {}) // the sender went away while its rest was discarded: nothing to answer
      source.on("data", (rest: Buffer) => {
        drained += rest.length
        if (drained > drainBytes) source.socket.destroy()
      })
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
