/**
 * `npm run bench`: every figure of the performance table (issue 13), each in its own child process
 * running one package's benchmark with `--figure`, repeated, printed as one table: the median and
 * the spread (min–max) of each figure, its target, the baseline measured in the same child, their
 * ratio, and whether the target is met.
 *
 *   npm run bench [-- --json FILE] [--repeat K] [--quick] [--only key,key]
 *
 * - `--json FILE` also writes the figures, with every sample, as JSON;
 * - `--repeat K` (default 3) measures each figure K times, the figures interleaved;
 * - `--quick` scales the sizes down (20,000 steps; a 100,000-step memory run) for a trial: its
 *   figures are not the issue's;
 * - `--only` measures only the figures with those keys.
 *
 * PostgreSQL figures use `--pg URL` (default postgres://postgres@127.0.0.1:5432/test); a figure
 * whose child fails is shown as not measured, with the child's last line of error.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const arg = (name: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1] : undefined
}
const quick = process.argv.includes("--quick")
const repeat = Number(arg("repeat") ?? 3)
const only = arg("only")?.split(",")
const jsonFile = arg("json")
const pgUrl = arg("pg") ?? "postgres://postgres@127.0.0.1:5432/test"

// this file runs compiled, from packages/server/build/benchmark
const root = path.resolve(import.meta.dirname, "../../../..")
const script = (pkg: string, name: string) => path.join(root, "packages", pkg, "build", "benchmark", `${name}.js`)

/** A figure of the table: how to measure it, and what it is compared with. */
interface Figure {
  readonly key: string
  readonly name: string
  readonly command: ReadonlyArray<string>
  readonly env?: Record<string, string>
  readonly unit: string
  /** What the baseline is, measured in the same child. */
  readonly against: string
  /** The target applies to the measured value, or to measured ÷ baseline. */
  readonly target: { readonly of: "measured" | "ratio"; readonly op: "<=" | ">="; readonly value: number }
}

const steps = quick ? "20000" : "100000"
const remote = (store: "sqlite" | "postgres", outbox: "memory" | "file", target: number): Figure => ({
  key: `remote-${store}-${outbox}`,
  name: `RemoteLayer → multirun serve → ${store === "sqlite" ? "SQLite" : "PostgreSQL"}, 1 client, ${
    outbox === "memory" ? "memory outbox" : "SqliteOutbox"
  }`,
  command: [script("server", "run"), "--figure", `${store}-${outbox}`, "--steps", steps, "--pg", pgUrl],
  unit: "steps/s",
  against: `steps/s, same run in process through ${store === "sqlite" ? "SqliteLayer" : "PgLayer"}`,
  target: { of: "measured", op: ">=", value: target }
})

const figures: ReadonlyArray<Figure> = ([
  {
    key: "step-vs-span",
    name: "step() on LocalLayer ÷ OpenTelemetry span keeping every span",
    command: [script("core", "run"), "--figure", "step"],
    unit: "µs/step",
    against: "µs/span, BatchSpanProcessor with a queue of N",
    target: { of: "ratio", op: "<=", value: 0.7 }
  },
  {
    key: "replay",
    name: "replay of 10,000 recorded steps",
    command: [script("core", "run"), "--figure", "replay"],
    unit: "steps/s",
    against: "steps/s, the same bodies as a bare Effect loop",
    target: { of: "measured", op: ">=", value: 1_000_000 }
  },
  {
    key: "sqlite-durable",
    name: "durable step() through SqliteLayer ÷ raw better-sqlite3",
    command: [script("sql", "run"), "--figure", "durable"],
    env: { BENCH_STEPS: steps },
    unit: "steps/s",
    against: "steps/s, better-sqlite3, same rows, 1,000-row transactions",
    target: { of: "ratio", op: ">=", value: 0.8 }
  },
  remote("sqlite", "memory", 100_000),
  remote("sqlite", "file", 100_000),
  remote("postgres", "memory", 50_000),
  remote("postgres", "file", 50_000),
  {
    key: "rss",
    name: `peak RSS, ${quick ? "100,000" : "1,000,000"}-step run on SqliteLayer, checkpoint every ${quick ? "10,000" : "100,000"}`,
    command: [script("sql", "memory"), ...(quick ? ["--steps", "100000", "--every", "10000"] : [])],
    unit: "MB",
    against: "MB, peak RSS before the first step",
    target: { of: "measured", op: "<=", value: 256 }
  },
  {
    key: "bytes",
    name: "SQLite bytes per small step (input 20 B, output 31 B)",
    command: [script("sql", "size"), "--figure"],
    unit: "B/step",
    against: "B, the step as a line of JSON",
    target: { of: "measured", op: "<=", value: 300 }
  }
] satisfies ReadonlyArray<Figure>).filter((figure: Figure) => !only || only.includes(figure.key))

/** Runs a figure's child and parses the last line of its output, `{ measured, baseline }`. */
const sample = (figure: Figure): Promise<{ measured: number; baseline: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, figure.command, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...figure.env }
    })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.stderr.on("data", (chunk) => (err += chunk))
    child.once("exit", (code) => {
      const last = out.trim().split("\n").at(-1) ?? ""
      if (code === 0 && last.startsWith("{")) return resolve(JSON.parse(last))
      const why = (err.trim() || out.trim()).split("\n").filter((line) => line.trim()).at(-1) ?? ""
      reject(new Error(`${figure.key}: the child exited with ${code}: ${why}`))
    })
  })

/** Median and spread of some samples. */
const stats = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, min: sorted[0]!, max: sorted.at(-1)!, samples: values }
}
type Stats = ReturnType<typeof stats>

const format = (value: number, unit: string) =>
  unit === "steps/s" ? Math.round(value).toLocaleString("en-US") : value.toFixed(unit === "µs/step" ? 3 : unit === "MB" ? 0 : 1)
const spread = (s: Stats, unit: string) =>
  s.samples.length > 1 ? `${format(s.median, unit)} (${format(s.min, unit)}–${format(s.max, unit)})` : format(s.median, unit)
const ratioSpread = (s: Stats) =>
  s.samples.length > 1 ? `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : s.median.toFixed(2)

const main = async () => {
  const samples = new Map(figures.map((figure) => [figure.key, [] as Array<{ measured: number; baseline: number }>]))
  const errors = new Map<string, string>()
  for (let round = 0; round < repeat; round++) {
    for (const figure of figures) {
      if (errors.has(figure.key)) continue
      process.stderr.write(`round ${round + 1}/${repeat}: ${figure.key} … `)
      const started = Date.now()
      try {
        const result = await sample(figure)
        samples.get(figure.key)!.push(result)
        process.stderr.write(`${format(result.measured, figure.unit)} ${figure.unit} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`)
      } catch (error) {
        errors.set(figure.key, (error as Error).message)
        process.stderr.write("failed\n")
      }
    }
  }
  const results = figures.map((figure) => {
    const taken = samples.get(figure.key)!
    if (taken.length === 0) return { ...figure, error: errors.get(figure.key) }
    const measured = stats(taken.map((s) => s.measured))
    const baseline = stats(taken.map((s) => s.baseline))
    const ratio = stats(taken.map((s) => s.measured / s.baseline))
    const value = figure.target.of === "ratio" ? ratio.median : measured.median
    const met = figure.target.op === "<=" ? value <= figure.target.value : value >= figure.target.value
    return { ...figure, measured, baseline, ratio, met }
  })
  const header = ["figure", "measured: median (min–max)", "target", "baseline", "ratio", "met"]
  const table = results.map((r) => {
    const target = `${r.target.of === "ratio" ? "ratio " : ""}${r.target.op === "<=" ? "≤" : "≥"} ${
      r.target.of === "ratio" ? r.target.value : r.target.value.toLocaleString("en-US")
    }`
    if (!("measured" in r)) return [r.name, "not measured", target, "", "", r.error ?? ""]
    return [
      r.name,
      `${spread(r.measured!, r.unit)} ${r.unit}`,
      target,
      `${spread(r.baseline!, r.unit)} ${r.against.split(",")[0]}`,
      ratioSpread(r.ratio!),
      r.met ? "met" : "missed"
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  console.log(`\nmultirun benchmark, ${new Date().toISOString()}, ${os.cpus().length} cores, Node ${process.versions.node}, ${
    repeat
  } run(s) per figure${quick ? ", --quick (scaled down)" : ""}\n`)
  console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...table.map(line)].join("\n"))
  console.log(`\nbaselines:\n${figures.map((figure) => `  ${figure.name}: ${figure.against}`).join("\n")}`)
  if (jsonFile) {
    const json = {
      date: new Date().toISOString(),
      machine: { cores: os.cpus().length, node: process.versions.node, platform: `${os.platform()} ${os.arch()}` },
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
      repeat,
      quick,
      figures: results.map(({ command: _command, env: _env, ...rest }) => rest)
    }
    fs.writeFileSync(jsonFile, `${JSON.stringify(json, null, 2)}\n`)
    console.log(`\nwritten to ${jsonFile}`)
  }
  if (errors.size > 0) process.exitCode = 1
}

main()
