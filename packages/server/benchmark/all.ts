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
 * - `--quick` scales the sizes down (20,000 steps; a 100,000-step memory run; a 2,000-step run
 *   resumed 3 times; a flood of 2,000 requests) for a trial: its figures are not the issue's;
 * - `--only` measures only the figures with those keys.
 *
 * A child may measure several figures at once (the restore benchmark measures its six in one life
 * of a run): it then prints `{ "parts": { part: { measured, baseline } } }`, and the figures naming
 * one of those parts share one child per round.
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
  /** The figure is this part of its child's output, `{ parts: { [part]: { measured, baseline } } }`. */
  readonly part?: string
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

/**
 * A run's whole life ("A run's life", 0.3): a run of `restoreSteps` steps resumed `resumes` + 1
 * times in one child (packages/sql/benchmark/restore.ts), six figures of it.
 */
const restoreSteps = quick ? 2_000 : 10_000
const resumes = quick ? 3 : 10
const restoreRun = `${restoreSteps.toLocaleString("en-US")}-step run`
const restore = (
  part: string,
  name: string,
  unit: string,
  against: string,
  target: Figure["target"]
): Figure => ({
  key: part,
  part,
  name,
  command: [script("sql", "restore"), "--figure", "--steps", String(restoreSteps), "--resumes", String(resumes)],
  unit,
  against,
  target
})
/**
 * A flood (issue 21, point 7): `floodRequests` requests at once against `multirun serve` on
 * PostgreSQL (packages/server/benchmark/flood.ts), two figures of one child.
 */
const floodRequests = quick ? 2_000 : 10_000
const flood = (part: string, name: string, unit: string, against: string, target: Figure["target"]): Figure => ({
  key: part,
  part,
  name,
  command: [script("server", "flood"), "--figure", "--requests", String(floodRequests), "--pg", pgUrl],
  unit,
  against,
  target
})

const langGraphTuple = `ms, LangGraph SqliteSaver: open + getTuple (latest) of a ${restoreSteps.toLocaleString("en-US")}-checkpoint thread`
const firstExecution = `ms, the first execution of the same ${restoreSteps.toLocaleString("en-US")} steps through SqliteLayer`
const afterFirstRun = "rows after the first run, before any resume"

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
  flood(
    "pg-flood-rss",
    `peak RSS of multirun serve on PostgreSQL under ${floodRequests.toLocaleString("en-US")} concurrent requests`,
    "MB",
    "MB, peak RSS before the flood",
    { of: "measured", op: "<=", value: 300 }
  ),
  flood(
    "pg-flood-unanswered",
    `requests of those ${floodRequests.toLocaleString("en-US")} left unanswered (no connection in 10 s or no answer in 60 s)`,
    "requests",
    "requests sent",
    { of: "measured", op: "<=", value: 0 }
  ),
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
  },
  restore(
    "restore-fresh",
    `resume-to-body of a ${restoreRun} on SQLite (fresh SqliteLayer + withRun resume latest), first resume`,
    "ms",
    langGraphTuple,
    { of: "measured", op: "<=", value: 10 }
  ),
  restore("restore-resumed", `resume-to-body of that run after ${resumes} resumes`, "ms", langGraphTuple, {
    of: "measured",
    op: "<=",
    value: 10
  }),
  restore("replay-fresh", `replay of its ${restoreSteps.toLocaleString("en-US")} recorded steps, first resume`, "ms", firstExecution, {
    of: "measured",
    op: "<=",
    value: 30
  }),
  restore("replay-resumed", `replay of its recorded steps after ${resumes} resumes`, "ms", firstExecution, {
    of: "measured",
    op: "<=",
    value: 30
  }),
  // 0.3: a resume that replays k steps adds rows independent of k: 1% of the run over all the resumes
  restore("rows-steps", `step rows in the file after ${resumes} resumes of the ${restoreRun}`, "rows", afterFirstRun, {
    of: "ratio",
    op: "<=",
    value: 1.01
  }),
  // 0.3: a checkpoint reached again while replaying is the recorded one
  restore("rows-checkpoints", `checkpoint rows in the file after those ${resumes} resumes`, "rows", afterFirstRun, {
    of: "measured",
    op: "<=",
    value: 1
  })
] satisfies ReadonlyArray<Figure>).filter((figure: Figure) => !only || only.includes(figure.key))

interface Sample {
  readonly measured: number
  readonly baseline: number
}

/** Runs a figure's child and parses the last line of its output. */
const runChild = (figure: Figure): Promise<unknown> =>
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

/**
 * A figure's sample: its child's output, or its part of it. `children` holds the children of
 * the current round, so the figures that are parts of one child's output share it.
 */
const sample = (figure: Figure, children: Map<string, Promise<unknown>>): Promise<Sample> => {
  const id = JSON.stringify([figure.command, figure.env ?? {}])
  const output = children.get(id) ?? runChild(figure)
  children.set(id, output)
  return output.then((value) => {
    const picked = figure.part === undefined
      ? value
      : (value as { parts?: Record<string, unknown> }).parts?.[figure.part]
    const { baseline, measured } = (picked ?? {}) as Partial<Sample>
    if (typeof measured !== "number" || typeof baseline !== "number") {
      throw new Error(`${figure.key}: the child's output has no figure${figure.part ? ` ${figure.part}` : ""}`)
    }
    return { measured, baseline }
  })
}

/** Median and spread of some samples. */
const stats = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, min: sorted[0]!, max: sorted.at(-1)!, samples: values }
}
type Stats = ReturnType<typeof stats>

const format = (value: number, unit: string) =>
  unit === "steps/s" || unit === "rows" || unit === "requests"
    ? Math.round(value).toLocaleString("en-US")
    : value.toFixed(unit === "µs/step" ? 3 : unit === "MB" ? 0 : unit === "ms" && value < 10 ? 2 : 1)
const spread = (s: Stats, unit: string) =>
  s.samples.length > 1 ? `${format(s.median, unit)} (${format(s.min, unit)}–${format(s.max, unit)})` : format(s.median, unit)
const ratioSpread = (s: Stats) =>
  s.samples.length > 1 ? `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : s.median.toFixed(2)

const main = async () => {
  const samples = new Map(figures.map((figure) => [figure.key, [] as Array<Sample>]))
  const errors = new Map<string, string>()
  for (let round = 0; round < repeat; round++) {
    const children = new Map<string, Promise<unknown>>()
    for (const figure of figures) {
      if (errors.has(figure.key)) continue
      process.stderr.write(`round ${round + 1}/${repeat}: ${figure.key} … `)
      const started = Date.now()
      try {
        const result = await sample(figure, children)
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
