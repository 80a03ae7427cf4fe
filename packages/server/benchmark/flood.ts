/**
 * A flood (issue 21, point 7): `--requests N` (default 10,000) requests sent at once, each on its
 * own connection, to `multirun serve` in a separate process over a fresh PostgreSQL schema (or
 * `--store sqlite`), each `GET /api/runs` with a key (two queries: the key, the runs). Counts the
 * answers by kind (2xx, 503 with `Retry-After`, other statuses) and the requests left unanswered
 * (no connection within `--connect-timeout` seconds, default 10, or no answer within 60 s), and
 * reads the server's peak RSS (`VmHWM`, Linux) before and after.
 *
 *   node packages/server/build/benchmark/flood.js [--requests N] [--store postgres|sqlite] [--pg URL]
 *     [--figure] [-- serve options…]
 *
 * Prints one JSON line of counts; with `--figure`, for `npm run bench`'s table
 * (packages/server/benchmark/all.ts), `{ parts: { "pg-flood-rss": { measured, baseline },
 * "pg-flood-unanswered": { measured, baseline } } }`: the peak RSS in MB (baseline: before the
 * flood) and the requests left unanswered (baseline: the requests sent).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { startServer, stopServer } from "./serveProcess.js"

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1]! : fallback
}
const requests = Number(arg("requests", "10000"))
const store = arg("store", "postgres")
const pgUrl = arg("pg", "postgres://postgres@127.0.0.1:5432/test")
const connectTimeoutMs = Number(arg("connect-timeout", "10")) * 1000
const answerTimeoutMs = 60_000
const extra = process.argv.includes("--") ? process.argv.slice(process.argv.indexOf("--") + 1) : []
// the `multirun` command as users run it: compiled, from dist/ (this script runs compiled, from build/)
const packageRoot = path.resolve(import.meta.dirname, "../..")
const bin = path.join(packageRoot, "bin", "multirun.js")

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-flood-"))
const childEnv = { ...process.env, TMPDIR: dir }
const schema = `multirun_flood_${Math.random().toString(36).slice(2, 10)}`
const dbArgs = store === "sqlite" ? ["--db", path.join(dir, "flood.db")] : ["--database-url", pgUrl, "--schema", schema]

/** The peak resident set of a process so far, in MB. */
const peakRss = (pid: number) => {
  const found = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return found ? Number(found[1]) / 1024 : NaN
}

/** The CPU time a process used so far (user + system), in seconds. */
const cpuSeconds = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

type Outcome = "2xx" | "503" | "503 without Retry-After" | "other status" | "connect timeout" | "no answer" | "error"

/** One request on its own connection. */
const request = (url: URL, apiKey: string): Promise<Outcome> =>
  new Promise((resolve) => {
    let settled = false
    const done = (outcome: Outcome) => {
      if (settled) return
      settled = true
      clearTimeout(connectTimer)
      clearTimeout(answerTimer)
      req.destroy()
      resolve(outcome)
    }
    const req = Http.get(url, { agent: false, headers: { authorization: `Bearer ${apiKey}` } }, (response) => {
      response.resume()
      response.once("end", () => {
        const status = response.statusCode ?? 0
        done(
          status >= 200 && status < 300
            ? "2xx"
            : status === 503
            ? (response.headers["retry-after"] === undefined ? "503 without Retry-After" : "503")
            : "other status"
        )
      })
      response.once("error", () => done("error"))
    })
    // the verdict waits for the I/O already pending (run before `setImmediate`): a connection or
    // an answer that arrived while this process was busy is not counted as late
    let connected = false
    const connectTimer = setTimeout(() => setImmediate(() => connected || done("connect timeout")), connectTimeoutMs)
    const answerTimer = setTimeout(() => setImmediate(() => done("no answer")), answerTimeoutMs)
    req.once("socket", (socket) =>
      socket.once("connect", () => {
        connected = true
        clearTimeout(connectTimer)
      }))
    req.once("error", () => done("error"))
  })

const main = async () => {
  const { child, url } = await startServer(bin, [...dbArgs, ...extra], childEnv)
  try {
    const apiKey = execFileSync(process.execPath, [bin, "keys", "create", "--project", "flood", ...dbArgs], {
      stdio: ["ignore", "pipe", "ignore"],
      env: childEnv
    }).toString().trim()
    const target = new URL("/api/runs", url)
    // warm-up: a few requests, one at a time
    for (let i = 0; i < 10; i++) await request(target, apiKey)
    const before = peakRss(child.pid!)
    const cpuBefore = cpuSeconds(child.pid!)
    const clientCpu = process.cpuUsage()
    const started = performance.now()
    const outcomes = await Promise.all(Array.from({ length: requests }, () => request(target, apiKey)))
    const seconds = (performance.now() - started) / 1000
    const after = peakRss(child.pid!)
    const cpu = cpuSeconds(child.pid!) - cpuBefore
    const clientCpuUsed = process.cpuUsage(clientCpu)
    const counts: Record<string, number> = {}
    for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1
    const answered = (counts["2xx"] ?? 0) + (counts["503"] ?? 0) + (counts["503 without Retry-After"] ?? 0) +
      (counts["other status"] ?? 0)
    const result = {
      store,
      requests,
      ...counts,
      unanswered: requests - answered,
      seconds: Number(seconds.toFixed(1)),
      "server CPU s": Number(cpu.toFixed(1)),
      "client CPU s": Number(((clientCpuUsed.user + clientCpuUsed.system) / 1e6).toFixed(1)),
      "peak RSS before MB": Math.round(before),
      "peak RSS MB": Math.round(after),
      load: os.loadavg().map((load) => load.toFixed(1)).join(" ")
    }
    console.log(JSON.stringify(result))
    if (process.argv.includes("--figure")) {
      console.log(JSON.stringify({
        parts: {
          "pg-flood-rss": { measured: after, baseline: before },
          "pg-flood-unanswered": { measured: requests - answered, baseline: requests }
        }
      }))
    }
  } finally {
    await stopServer(child)
  }
}

main().finally(() => {
  fs.rmSync(dir, { recursive: true, force: true })
  if (store !== "sqlite") {
    execFileSync("psql", [pgUrl, "-qc", `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { stdio: "ignore" })
  }
})
