/**
 * A TCP proxy on a loopback port that cuts the connections through it on demand: a network
 * fault, for real, between a client and a server (PostgreSQL, a `multirun serve`).
 *
 * @since 0.2.0
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"

/**
 * When an armed cut fires: at the `after`-th chunk (default 1) the client sends, from the arming
 * on, that contains `text` (any chunk when `text` is not given; on any connection, matched across
 * chunk boundaries). With `forward` (default true) that chunk reaches the server and the cut
 * follows `delayMs` later (default 0, the next turn of the event loop); without it, the chunk is
 * dropped and the cut is immediate.
 *
 * @since 0.2.0
 */
export interface CutTrigger {
  readonly text?: string | undefined
  readonly after?: number | undefined
  readonly forward?: boolean | undefined
  readonly delayMs?: number | undefined
}

/**
 * A running proxy.
 *
 * - `port`: where it listens, on 127.0.0.1.
 * - `cut`: resets every live connection, both sides (the client sees a reset, the server a
 *   vanished peer). New connections are accepted afterwards.
 * - `cutOn`: arms one cut that fires when the client sends the chunk a {@link CutTrigger} names;
 *   arming again replaces the armed cut.
 * - `disarm`: drops the armed cut, if it has not fired.
 * - `cuts`: how many cuts have happened so far (by `cut` or by an armed trigger).
 * - `chunks`: how many chunks clients have sent so far.
 *
 * @since 0.2.0
 */
export interface TcpProxy {
  readonly port: number
  readonly cut: Effect.Effect<void>
  readonly cutOn: (trigger: CutTrigger) => Effect.Effect<void>
  readonly disarm: Effect.Effect<void>
  readonly cuts: Effect.Effect<number>
  readonly chunks: Effect.Effect<number>
}

/** Resets a socket (an RST where the platform can), else destroys it. */
const reset = (socket: net.Socket): void => {
  if (socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/**
 * Starts a proxy listening on `127.0.0.1:0` that forwards each connection to `target`; closing
 * the scope cuts every connection and stops listening.
 *
 * @since 0.2.0
 */
// one closure over the live connections and the armed trigger, which the socket handlers share
export const tcpProxy = (
  target: { readonly host: string; readonly port: number }
): Effect.Effect<TcpProxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sockets = new Set<net.Socket>()
    let armed: { readonly trigger: CutTrigger; left: number } | undefined
    let cuts = 0
    let chunks = 0
    const cutAll = () => {
      for (const socket of sockets) reset(socket)
      sockets.clear()
      cuts++
    }
    /** Forwards what the client sends, firing the armed trigger when its chunk goes by. */
    const relay = (client: net.Socket, upstream: net.Socket) => {
      let tail = ""
      client.on("data", (chunk: Buffer) => {
        chunks++
        const text = tail + chunk.toString("latin1")
        const trigger = armed?.trigger
        // a match counts in the chunk where it ends, never again in the next one
        const matches = trigger !== undefined &&
          (trigger.text === undefined ||
            text.indexOf(trigger.text, Math.max(0, tail.length - trigger.text.length + 1)) >= 0)
        tail = text.slice(-256)
        if (!matches || --armed!.left > 0) return void upstream.write(chunk)
        armed = undefined
        if (trigger.forward === false) return void cutAll()
        upstream.write(chunk)
        setTimeout(cutAll, trigger.delayMs ?? 0)
      })
    }
    const server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host)
      const close = () => {
        sockets.delete(client)
        sockets.delete(upstream)
        reset(client)
        reset(upstream)
      }
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("error", close).on("close", close)
      }
      relay(client, upstream)
      upstream.pipe(client)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          armed = undefined
          cutAll()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      port,
      cut: Effect.sync(cutAll),
      cutOn: (trigger) => Effect.sync(() => void (armed = { trigger, left: trigger.after ?? 1 })),
      disarm: Effect.sync(() => void (armed = undefined)),
      cuts: Effect.sync(() => cuts),
      chunks: Effect.sync(() => chunks)
    }
  })
