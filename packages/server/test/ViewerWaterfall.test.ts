/**
 * The waterfall in headless Chromium, read as a person sees it, over real SQLite files served by
 * `multirun ui` (the bundled command, a process of its own) and by `Local.serve` (what it runs): the crew run killed by SIGKILL twice and resumed twice
 * (its writer has three attempts, its planner's prompt drifted) and a stalled run. At 1024, 1440
 * and 1920 px wide no two labels of the waterfall overlap, none leaves its plot and none is cut;
 * an agent's lane shows where it worked; crashes, drift and the stall are marked, with one legend.
 * Screenshots go to packages/server/test-output/ (not committed).
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Page } from "playwright-core"
import { RunContext, step, withAgent, withRun } from "@multirun/core"
import { spawnChild, tempFile } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import * as Local from "../src/Local.js"
import * as Chromium from "./browser.js"
import { bundleCli } from "./cliBundle.js"
import { makeResumedTwiceDatabase, makeStalledDatabase } from "./fixtures/crewDatabase.js"

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any

const output = path.join(import.meta.dirname, "..", "test-output")

/** The viewers over the two files, their runs, and Chromium. */
interface Fixture {
  /** `multirun ui` over the run resumed twice. */
  readonly twiceUrl: string
  readonly twiceRunId: string
  /** `Local.serve` over the stalled run. */
  readonly stalledUrl: string
  readonly stalledRunId: string
  /** `Local.serve` over a run too big to draw a bar per step (its lanes are canvases). */
  readonly bigUrl: string
  readonly bigRunId: string
  readonly browser: Chromium.Browser
}

/** A run of 3,000 quick steps in three agents with a checkpoint after each: more than the page draws as elements. */
const recordBigRun = Effect.gen(function*() {
  const run = yield* RunContext
  for (const agent of ["fetcher", "reader", "writer"]) {
    yield* withAgent(agent)(Effect.forEach(
      Array.from({ length: 1000 }, (_, i) => i),
      (i) => Effect.succeed(i).pipe(step(i % 2 === 0 ? "think" : "tool", { kind: i % 2 === 0 ? "llm_call" : "tool_call", input: { agent, i } })),
      { discard: true }
    ))
    yield* run.checkpoint(`after-${agent}`)
  }
  return run.runId
}).pipe(withRun({ name: "big" }))

class WaterfallFixture extends Context.Tag("@multirun/server/test/ViewerWaterfall/Fixture")<WaterfallFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  WaterfallFixture,
  Effect.gen(function*() {
    const [twice, stalled, browser] = yield* Effect.all(
      [makeResumedTwiceDatabase, makeStalledDatabase, Chromium.scoped()],
      { concurrency: "unbounded" }
    )
    const ui = yield* spawnChild(process.execPath, [yield* bundleCli, "ui", "--db", twice.filename, "--port", "0"])
    const twiceUrl = /multirun ui: (http:\/\/\S+?)\/ /.exec(yield* ui.line(/^multirun ui: /))![1]!
    const { url: stalledUrl } = yield* Local.serve({ filename: stalled.filename, port: 0 })
    const bigFile = yield* tempFile("big.db")
    const bigRunId = yield* Effect.provide(recordBigRun, SqliteLayer({ filename: bigFile }))
    const { url: bigUrl } = yield* Local.serve({ filename: bigFile, port: 0 })
    yield* Effect.sync(() => fs.mkdirSync(output, { recursive: true }))
    return { twiceUrl, twiceRunId: twice.runId, stalledUrl, stalledRunId: stalled.runId, bigUrl, bigRunId, browser }
  })
)

const browserTest = Chromium.withFixture(WaterfallFixture)

/** A label's text, classes and box, and the boxes of its plot (track) and of the waterfall. */
interface Box {
  readonly left: number
  readonly right: number
  readonly top: number
  readonly bottom: number
}
interface SeenLabel {
  readonly text: string
  readonly cls: string
  readonly box: Box
  readonly plot: Box
  readonly cut: boolean
  /** On the time axis (else in a lane). */
  readonly axis: boolean
}

/** Waits until the waterfall is laid out for the page's current width, then reads every label. */
const readLabels = async (page: Page): Promise<{ labels: Array<SeenLabel>; waterfall: Box }> => {
  await page.waitForFunction(() => {
    const track = document.querySelector(".axis-track")
    return track !== null && track.dataset.width === String(Math.floor(track.getBoundingClientRect().width)) &&
      document.querySelector(".axis-track .wf-label.tick") !== null
  })
  return page.evaluate(() => {
    const box = (el: any) => {
      const r = el.getBoundingClientRect()
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom }
    }
    const labels = [...document.querySelectorAll(".timeline .wf-label")].map((el: any) => ({
      text: el.textContent,
      cls: el.className,
      box: box(el),
      plot: box(el.closest(".track")),
      cut: el.scrollWidth > el.clientWidth,
      axis: el.closest(".axis") !== null
    }))
    return { labels, waterfall: box(document.querySelector(".timeline")) }
  })
}

const overlap = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom
const inside = (a: Box, outer: Box) =>
  a.left >= outer.left - 0.01 && a.right <= outer.right + 0.01 && a.top >= outer.top - 0.01 && a.bottom <= outer.bottom + 0.01

/** Asserts what a person needs of the labels: none on another, none out of its plot, none cut. */
const assertReadable = (seen: { labels: Array<SeenLabel>; waterfall: Box }, where: string) => {
  const { labels, waterfall } = seen
  assert.isAbove(labels.length, 5, where)
  for (const [i, a] of labels.entries()) {
    assert.isTrue(inside(a.box, a.plot), `${where}: "${a.text}" leaves its plot`)
    assert.isTrue(inside(a.box, waterfall), `${where}: "${a.text}" leaves the waterfall`)
    assert.isFalse(a.cut, `${where}: "${a.text}" is cut`)
    for (const b of labels.slice(i + 1)) {
      assert.isFalse(overlap(a.box, b.box), `${where}: "${a.text}" (${a.cls}) overlaps "${b.text}" (${b.cls})`)
    }
  }
}

Chromium.describeChromium("waterfall in Chromium", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("waterfall", (it) => {
    it.effect("no label overlaps another, leaves the plot or is cut, at 1024, 1440 and 1920 px, loaded or resized between them", () =>
      browserTest(async ({ bigRunId, bigUrl, browser, stalledRunId, stalledUrl, twiceRunId, twiceUrl }) => {
        const page = await browser.newPage()
        for (const [url, runId] of [[twiceUrl, twiceRunId], [stalledUrl, stalledRunId], [bigUrl, bigRunId]] as const) {
          for (const width of [1024, 1440, 1920]) {
            await page.setViewportSize({ width, height: 1000 })
            await page.goto(`${url}/runs/${runId}`)
            if (runId === bigRunId) await page.waitForSelector(".lane-canvas")
            const seen = await readLabels(page)
            if (runId !== stalledRunId) {
              await page.screenshot({ path: path.join(output, `waterfall-${runId === bigRunId ? "big-" : ""}${width}.png`), fullPage: false })
            }
            assertReadable(seen, `${width} px`)
            if (runId === twiceRunId) {
              const texts = seen.labels.map((l) => l.text)
              // the marks a person looks for are there at every width, shortened at worst
              assert.isTrue(texts.includes("attempt 3") || texts.includes("#3"), `${width} px: ${texts.join(" | ")}`)
              assert.strictEqual(seen.labels.filter((l) => l.axis && l.cls.includes("crash-label")).length, 2)
              assert.strictEqual(seen.labels.filter((l) => l.cls.includes("resume-mark")).length, 2, `${width} px: both resumes`)
              assert.isTrue(seen.labels.some((l) => l.cls.includes("drift-flag")))
            }
          }
          // the same page made narrower and wider, through the common widths: the labels are laid out again
          for (const width of [1920, 1024, 1680, 1152, 1536, 1280, 1366, 1600]) {
            await page.setViewportSize({ width, height: 1000 })
            assertReadable(await readLabels(page), `resized to ${width} px`)
          }
        }
        await page.close()
      }))

    it.effect("an agent's lane shows the spans where it worked, not one box from its start to the resume", () =>
      browserTest(async ({ browser, twiceRunId, twiceUrl }) => {
        const page = await browser.newPage()
        await page.setViewportSize({ width: 1440, height: 1000 })
        await page.goto(`${twiceUrl}/runs/${twiceRunId}`)
        await page.waitForSelector(".bar")
        const lanes = await page.evaluate(() =>
          [...document.querySelectorAll(".timeline .lane[data-lane]")].map((lane: any) => {
            const span = (el: any) => {
              const r = el.getBoundingClientRect()
              return [r.left, r.right]
            }
            return {
              name: lane.dataset.lane,
              attempts: [...lane.querySelectorAll(".attempt")].map(span),
              active: [...lane.querySelectorAll(".active")].map(span),
              bars: [...lane.querySelectorAll(".bar")].map(span)
            }
          })
        )
        const planner = lanes.find((l: any) => l.name === "planner")!
        // the planner planned before the first crash and again (drifted) after the last resume
        assert.isAtLeast(planner.active.length, 2)
        const width = (spans: Array<Array<number>>) => spans.reduce((sum, [a, b]) => sum + b! - a!, 0)
        assert.isBelow(width(planner.active), width(planner.attempts) / 2, "it worked a small part of its life")
        for (const lane of lanes) {
          // each bar lies in one of its lane's active spans
          for (const [a, b] of lane.bars) {
            assert.isTrue(lane.active.some(([from, to]: Array<number>) => a! >= from! - 1 && b! <= to! + 1), `${lane.name}: a bar outside its spans`)
          }
        }
        const writer = lanes.find((l: any) => l.name === "writer")!
        assert.strictEqual(writer.attempts.length, 3)
        await page.close()
      }))

    it.effect("marks each crash where the process died, labelled, with a tooltip, in the lane, the steps and the detail", () =>
      browserTest(async ({ browser, twiceRunId, twiceUrl }) => {
        const page = await browser.newPage()
        await page.setViewportSize({ width: 1440, height: 1000 })
        await page.goto(`${twiceUrl}/runs/${twiceRunId}`)
        await page.waitForSelector(".axis-track .crash-label")
        const axis = page.locator(".axis-track .crash-label")
        assert.strictEqual(await axis.count(), 2)
        // the crashes are close (and a resume between them): each says ✕ at least, one all of it
        const texts = await axis.allTextContents()
        assert.deepStrictEqual(texts.map((text) => /^✕( crashed| process died)?$/.test(text)), [true, true])
        assert.include(texts, "✕ process died")
        for (const label of await axis.all()) {
          assert.match(await label.getAttribute("title") ?? "", /^crashed: the process died after \+[\d.]+ m?s \(its last record\) and left writer \(attempt [12]\) running; the run was resumed at \+/)
          assert.isTrue(await label.isVisible())
        }
        assert.strictEqual(await page.locator(".timeline .lane[data-lane] .crash-line").count(), 2 * 4)
        // the writer's first two attempts were cut off, its third completed
        const writer = page.locator('.lane[data-lane="writer"]')
        assert.deepStrictEqual(await writer.locator(".attempt").evaluateAll((els) => els.map((e) => e.getAttribute("data-attempt"))), ["1", "2", "3"])
        assert.strictEqual(await writer.locator(".attempt.a-crashed").count(), 2)
        assert.strictEqual(await writer.locator(".wf-label.crash-label").count(), 2)
        // each crash line stands between the last bar before it and the first bar of the resume
        const xs = await page.evaluate(() => ({
          crashes: [...document.querySelectorAll('.lane[data-lane="writer"] .crash-line')].map((e: any) => e.getBoundingClientRect().left),
          bars: [...document.querySelectorAll(".bar")].map((e: any) => [e.getBoundingClientRect().left, e.getBoundingClientRect().right])
        }))
        for (const x of xs.crashes) {
          const through = xs.bars.filter(([a, b]: Array<number>) => a! < x - 1 && b! > x + 1)
          assert.deepStrictEqual(through, [], `no bar runs through the crash at ${x}`)
        }
        // the steps of a cut-off attempt, and their detail
        const row = page.locator(".step-row", { has: page.locator(".crash-mark") }).first()
        assert.strictEqual(await row.locator(".crash-mark").getAttribute("title"), "this attempt was cut off: its process died (crash)")
        await row.click()
        await page.waitForSelector("#step-crash")
        assert.match(await page.locator("#step-crash").textContent() ?? "", /^✕ Crash: the process running this attempt died after \+[\d.]+ m?s/)
        assert.include(await page.locator(".step-detail .badges").textContent(), "✕ crashed")
        await page.close()
      }))

    it.effect("marks a stalled run in the waterfall, the steps and the detail; one legend tells every mark", () =>
      browserTest(async ({ browser, stalledRunId, stalledUrl, twiceRunId, twiceUrl }) => {
        const page = await browser.newPage()
        await page.setViewportSize({ width: 1440, height: 1000 })
        await page.goto(`${stalledUrl}/runs/${stalledRunId}`)
        await page.waitForSelector(".axis-track .stalled-label")
        const mark = page.locator(".axis-track .stalled-label")
        assert.strictEqual(await mark.textContent(), "∥ stalled")
        assert.match(await mark.getAttribute("title") ?? "", /^stalled: the run did not end, and its owner \(pid \d+ on .+\) was last seen /)
        // the writer was running when its process died: its lane says so
        const writer = page.locator('.lane[data-lane="writer"]')
        assert.strictEqual(await writer.locator(".attempt.a-stalled").count(), 1)
        assert.strictEqual(await writer.locator(".wf-label.stalled-label").textContent(), "∥ stalled")
        assert.strictEqual(await writer.locator(".wf-label.stalled-label").getAttribute("title"), "attempt 1 was still running when the run stalled (its owner is gone)")
        assert.match(await page.locator("#steps-stalled").textContent() ?? "", /∥ stalled: nothing recorded since its owner was last seen, \+/)
        await page.click(".step-row")
        await page.waitForSelector("#step-stalled")
        assert.match(await page.locator("#step-stalled").textContent() ?? "", /^∥ Stalled: the run did not end, and its owner \(pid \d+ on .+\) was last seen at \+/)
        assert.include(await page.locator(".step-detail .badges").textContent(), "∥ run stalled")
        await page.screenshot({ path: path.join(output, "waterfall-stalled.png"), fullPage: true })
        // one legend, with every mark
        await page.goto(`${twiceUrl}/runs/${twiceRunId}`)
        await page.waitForSelector("#legend")
        assert.strictEqual(await page.locator(".legend").count(), 1)
        const legend = await page.locator("#legend").textContent() ?? ""
        for (const word of ["replayed", "drifted", "failed", "◆ checkpoint", "↻ resume", "✕ crash", "∥ stalled", "agent at work"]) {
          assert.include(legend, word)
        }
        await page.close()
      }))

    it.effect("logged no console error on any page", () =>
      Effect.gen(function*() {
        const { browser } = yield* WaterfallFixture
        assert.deepStrictEqual(browser.errors, [])
      }))
  })
})
