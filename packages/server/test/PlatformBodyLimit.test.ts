/**
 * Why `internal/body.ts` reads request bodies itself: `@effect/platform`'s own limit
 * (`HttpIncomingMessage.withMaxBodySize`) destroys the request of an over-limit body, which cuts
 * its connection, so the sender never reads the 413 its handler answers. When this test fails, the
 * platform keeps the connection open: switch `Limits.ts` to it, delete `internal/body.ts`, and
 * keep Malformed.test.ts's over-limit cases green. A real server on loopback, raw sockets.
 */
import { HttpIncomingMessage, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Http from "node:http"
import * as net from "node:net"

const limit = 1024

/** Reads the body under the platform's limit; 413 when it is passed. */
const app = HttpRouter.empty.pipe(
  HttpRouter.post(
    "/",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.arrayBuffer).pipe(
      Effect.map((body) => HttpServerResponse.text(`read ${body.byteLength} bytes`)),
      Effect.catchTag("RequestError", () => Effect.succeed(HttpServerResponse.text("larger than the server accepts", { status: 413 }))),
      HttpIncomingMessage.withMaxBodySize(Option.some(limit))
    )
  )
)

/** Sends an 8 MiB body with `framing`; what came back before the connection closed. */
const send = (port: number, framing: string) =>
  Effect.async<string>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    const chunked = framing.includes("chunked")
    const data = Buffer.alloc(64 * 1024, 0x20)
    const chunk = chunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]) : data
    let answer = ""
    let sent = 0
    socket.setEncoding("utf8").on("data", (text: string) => void (answer += text))
    socket.on("error", () => {}) // the cut, seen by this writer as a reset
    socket.on("close", () => resume(Effect.succeed(answer)))
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n`)
    const pump = () => {
      while (!socket.destroyed && sent < 8 * 1024 * 1024) {
        sent += data.length
        if (!socket.write(chunk)) return void socket.once("drain", pump)
      }
      if (!socket.destroyed) socket.end(chunked ? "0\r\n\r\n" : "")
    }
    pump()
  })

describe("@effect/platform's body limit", () => {
  it.scopedLive("cuts the connection of an over-limit body: its sender never reads the 413 (why internal/body.ts stays)", () =>
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const port = (server.address as HttpServer.TcpAddress).port
      yield* HttpServer.serveEffect(app)
      for (const framing of [`Content-Length: ${8 * 1024 * 1024}`, "Transfer-Encoding: chunked"]) {
        assert.strictEqual(yield* send(port, framing), "", `${framing}: no answer, the connection was cut`)
      }
      // a body within the limit is read and answered on the same server
      const small = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "x".repeat(limit) }).then((response) => response.text())
      )
      assert.strictEqual(small, `read ${limit} bytes`)
    }).pipe(Effect.provide(NodeHttpServer.layer(Http.createServer, { port: 0, host: "127.0.0.1" }))), { timeout: 30_000 })
})
