/**
 * Time to first screen of a big run in the viewer: a run of 100,000 steps (4 agents, a
 * checkpoint every 10,000 steps) recorded through SqliteLayer, served by `multirun ui` (a
 * separate process, as a user runs it), opened in headless Chromium. The page marks `multirun:first-screen`
 * once the header, the lanes and the first rows are drawn; the figure is that mark's time from
 * navigation start (median of the rounds), with the number of elements in the page at that
 * moment and the time until every step is loaded in the background. Then the deep link: the
 * page opened at `?step=N` near the end of the run, timed from navigation start until that
 * step's row is drawn selected inside the visible part of the steps list (median of the rounds),
 * and the server's text search over the inputs and outputs of the run's steps.
 *
 *   npm run bench:viewer            (or: npx tsx packages/server/benchmark/viewer.ts [--steps N] [--rounds N])
 */
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { SqliteLayer } from "@multirun/sql"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { hasChromium, launch } from "../test/chromium.js"

const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? process.argv[at + 1]! : fallback
}
const totalSteps = Number(arg("steps", "100000"))
const rounds = Number(arg("rounds", "3"))
const agents = 4

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any

// the `multirun` command as users run it, from the sources (this script may run compiled, from build/)
const packageRoot = path.resolve(import.meta.dirname, import.meta.dirname.endsWith(path.join("build", "benchmark")) ? "../.." : "..")
const bin = path.join(packageRoot, "bin", "multirun.js")

/** Starts `multirun ui` on the file and resolves with its URL. */
const startUi = (filename: string): Promise<{ url: string; child: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "ui", "--db", filename, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout!.on("data", (chunk) => {
      out += chunk
      const found = /multirun ui: (http:\/\/\S+)\//.exec(out)
      if (found) resolve({ url: found[1]!, child })
    })
    child.once("exit", (code) => reject(new Error(`multirun ui exited with ${code}`)))
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const record = (filename: string) =>
  Effect.gen(function*() {
    const run = yield* RunContext
    const perAgent = Math.floor(totalSteps / agents)
    for (let a = 0; a < agents; a++) {
      yield* withAgent(`agent-${a}`)(Effect.gen(function*() {
        for (let i = 0; i < perAgent; i++) {
          yield* Effect.succeed({ ok: true, n: i }).pipe(
            step(i % 3 === 0 ? "think" : "tool", {
              kind: i % 3 === 0 ? "llm_call" : "tool_call",
              input: { agent: a, i },
              usage: () => ({ tokensUsed: 10, costUsd: 0.00001 })
            })
          )
          if ((a * perAgent + i + 1) % 10_000 === 0) yield* run.checkpoint(`after-${a * perAgent + i + 1}`)
        }
      }))
    }
    return run.runId
  }).pipe(
    withRun({ name: "big-run", tags: ["bench"] }),
    Effect.provide(Layer.merge(SqliteLayer({ filename }), Logger.minimumLogLevel(LogLevel.Warning)))
  )

const main = async () => {
  if (!hasChromium()) {
    console.log("viewer benchmark skipped: no Chromium at /usr/bin/chromium (apt-get install chromium)")
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-test-viewer-bench-"))
  let ui: ChildProcess | undefined
  const browser = await launch({ width: 1400, height: 900 })
  try {
    const filename = path.join(dir, "runs.db")
    let started = performance.now()
    const runId = await Effect.runPromise(record(filename))
    console.log(`recorded a run of ${totalSteps.toLocaleString("en-US")} steps in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    const started_ = await startUi(filename)
    ui = started_.child
    const url = started_.url
    const firstScreens: Array<number> = []
    const walls: Array<number> = []
    const everything: Array<number> = []
    for (let round = 0; round <= rounds; round++) {
      const page = await browser.newPage()
      started = performance.now()
      await page.goto(`${url}/runs/${runId}`)
      await page.waitForFunction(() => document.body.dataset.firstScreen === "drawn", undefined, { timeout: 60_000 })
      const wall = performance.now() - started
      const mark = await page.evaluate(() => performance.getEntriesByName("multirun:first-screen")[0]!.startTime)
      const elements = await page.evaluate(() => document.getElementsByTagName("*").length)
      const rows = await page.locator(".step-row").count()
      await page.waitForFunction(
        (expected) => document.getElementById("steps-count")?.textContent === expected,
        `${totalSteps.toLocaleString("en-US")} steps`,
        { timeout: 300_000 }
      )
      const all = performance.now() - started
      const after = await page.evaluate(() => document.getElementsByTagName("*").length)
      const fetches = await page.evaluate(() =>
        performance.getEntriesByType("resource").filter((e: any) => e.name.includes("/timeline")).map((e: any) => e.duration)
      ) as Array<number>
      await page.close()
      if (round === 0) {
        console.log(`warm-up: first screen ${mark.toFixed(0)} ms`)
        continue
      }
      firstScreens.push(mark)
      walls.push(wall)
      everything.push(all)
      console.log(
        `round ${round}: first screen ${mark.toFixed(0)} ms after navigation (${wall.toFixed(0)} ms from goto), ` +
          `${elements} elements and ${rows} step rows in the page; all steps loaded after ${(all / 1000).toFixed(2)} s ` +
          `(${after} elements then; ${fetches.length} timeline requests, ${(fetches.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} s in them)`
      )
    }
    const deepLinks: Array<number> = []
    const target = totalSteps - 1000
    for (let round = 0; round <= rounds; round++) {
      const page = await browser.newPage()
      await page.goto(`${url}/runs/${runId}?step=${target}`)
      const shown = await page.waitForFunction(
        (seq) => {
          const row = document.querySelector(`.step-row.selected[data-seq="${seq}"]`)
          const box = document.querySelector(".steps-scroll")?.getBoundingClientRect()
          const at = row?.getBoundingClientRect()
          return at !== undefined && box !== undefined && at.top >= box.top && at.bottom <= box.bottom && performance.now()
        },
        target,
        { timeout: 60_000, polling: "raf" }
      )
      const ms = (await shown.jsonValue()) as number
      // as in the rounds above, the page's background loading ends before the next navigation
      await page.waitForFunction(
        (expected) => document.getElementById("steps-count")?.textContent === expected,
        `${totalSteps.toLocaleString("en-US")} steps`,
        { timeout: 300_000 }
      )
      await page.close()
      if (round === 0) {
        console.log(`warm-up: deep link to step #${target} shown after ${ms.toFixed(0)} ms`)
        continue
      }
      deepLinks.push(ms)
      console.log(`round ${round}: deep link to step #${target}: its row selected and in view ${ms.toFixed(0)} ms after navigation`)
    }
    // the server's text search over every step's input, output and error: the viewer's first page of matches
    const needle = `"i":${Math.floor(totalSteps / agents) - 1}}`
    const searches: Array<number> = []
    let matches = 0
    for (let round = 0; round <= rounds; round++) {
      const at = performance.now()
      const found = await fetch(`${url}/api/runs/${runId}/timeline?text=${encodeURIComponent(needle)}&limit=500`)
      matches = ((await found.json()) as Array<unknown>).length
      if (round > 0) searches.push(performance.now() - at)
    }
    console.log(`text search (${needle}) over the run's inputs and outputs: ${matches} steps found in ${median(searches).toFixed(0)} ms (median of ${rounds})`)
    console.log(
      `\nviewer, ${totalSteps.toLocaleString("en-US")}-step run: time to first screen ${median(firstScreens).toFixed(0)} ms ` +
        `(median of ${rounds}; ${median(walls).toFixed(0)} ms from goto), every step loaded in ${(median(everything) / 1000).toFixed(2)} s; ` +
        `deep link (?step=${target}) to its row selected in view ${median(deepLinks).toFixed(0)} ms (median of ${rounds})`
    )
  } finally {
    await browser.close()
    if (ui !== undefined) {
      ui.removeAllListeners("exit")
      ui.kill("SIGINT")
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
