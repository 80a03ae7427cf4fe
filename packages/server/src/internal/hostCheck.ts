/**
 * The `Host` header check of `multirun ui` and `multirun serve`: a page of another site that
 * rebinds its DNS name to 127.0.0.1 reaches the server with its own name in `Host`; such a
 * request is answered 421 before any route sees it.
 */
import type { HttpApp } from "@effect/platform"
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"

/** Which `Host` values a server answers: loopback names at its own port, or an allow-list. */
export type HostRule =
  | { readonly _tag: "Loopback" }
  | { readonly _tag: "AllowList"; readonly hosts: ReadonlyArray<string> }

/** The names that reach only this machine. */
const loopbackNames: ReadonlyArray<string> = ["127.0.0.1", "localhost", "[::1]"]

/** A `Host` value split into its lower-cased name (IPv6 kept in brackets) and port, if well formed. */
const parseHost = (host: string): { readonly name: string; readonly port: number | undefined } | undefined => {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim())
  if (match === null) return undefined
  return { name: match[1]!.toLowerCase(), port: match[2] === undefined ? undefined : Number(match[2]) }
}

/** Whether `host` is allowed: an entry without a port allows its name at any port. */
const allowed = (rule: HostRule, host: string, localPort: number | undefined): boolean => {
  const parsed = parseHost(host)
  if (parsed === undefined) return false
  if (rule._tag === "Loopback") {
    return loopbackNames.includes(parsed.name) && (parsed.port ?? 80) === localPort
  }
  return rule.hosts.some((entry) => {
    const want = parseHost(entry)
    return want !== undefined && want.name === parsed.name && (want.port === undefined || want.port === parsed.port)
  })
}

const refusal = (rule: HostRule, host: string, localPort: number | undefined): string =>
  rule._tag === "Loopback"
    ? `multirun ui answers only Host 127.0.0.1, localhost or [::1] at port ${localPort}, not ${JSON.stringify(host)}; ` +
      `open http://127.0.0.1:${localPort}/ instead.\n`
    : `this multirun server answers only the hosts given by --allowed-host (${rule.hosts.join(", ")}), ` +
      `not ${JSON.stringify(host)}; add that name with --allowed-host to serve it.\n`

/**
 * Wraps an app so that a request whose `Host` the rule does not allow (or that has none) is
 * answered `421 Misdirected Request` with a plain-text message, pages and API alike.
 */
export const middleware = (rule: HostRule) => (app: HttpApp.Default): HttpApp.Default =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const host = request.headers["host"] ?? ""
    const localPort = NodeHttpServerRequest.toIncomingMessage(request).socket.localPort
    return allowed(rule, host, localPort)
      ? app
      : Effect.succeed(HttpServerResponse.text(refusal(rule, host, localPort), { status: 421 }))
  })
