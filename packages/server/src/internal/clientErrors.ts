/**
 * Answers for requests Node's HTTP parser refuses before any route sees them (a malformed
 * request line or header, a bad chunk, headers over the size limit, a request too slow to
 * arrive): the same statuses Node sends, with a JSON body `{ _tag, message }` like every other
 * error of the API instead of an empty one.
 */
import type * as Http from "node:http"
import type * as Net from "node:net"

const answers: Record<string, readonly [status: number, reason: string, tag: string, message: string]> = {
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    "HeadersTooLarge",
    "the request headers are larger than the server accepts; send fewer or shorter headers"
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    413,
    "Payload Too Large",
    "PayloadTooLarge",
    "the chunk extensions of the request body are larger than the server accepts"
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [408, "Request Timeout", "RequestTimeout", "the request did not arrive in time"]
}

const answer = (error: Error & { readonly code?: string }): string => {
  const [status, reason, tag, message] = answers[error.code ?? ""] ??
    [400, "Bad Request", "BadRequest", `the request is not valid HTTP/1.1 (${error.code ?? "parse error"}: ${error.message})`]
  const body = JSON.stringify({ _tag: tag, message })
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n${body}`
}

/**
 * Installs the answers on `server`. As Node does, it answers only when no response has started
 * on the connection, then closes it.
 */
export const answerWithJson = (server: Http.Server): void => {
  server.on("clientError", (error: Error & { readonly code?: string }, socket: Net.Socket) => {
    const inFlight = (socket as { _httpMessage?: Http.ServerResponse | null })._httpMessage
    if (error.code !== "ECONNRESET" && socket.writable && (inFlight == null || !inFlight.headersSent)) {
      socket.write(answer(error))
    }
    socket.destroy()
  })
}
