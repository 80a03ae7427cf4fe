/**
 * Finding steps and runs in the viewer, in headless Chromium over `multirun ui` (`Local.serve`)
 * on a real SQLite file holding a run of 20,000 steps (big enough to be paged and virtualised)
 * written through the store: the steps filtered by agent, kind, status and name, a text found
 * inside one step's input, a deep link to a step far down the run drawn selected in view, the
 * runs list searched by short and full id, and a bad filter refused by the API with a 400.
 * Screenshots go to packages/server/test-output/ (not committed).
 */
import { assert, layer } from "@effect/vitest"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { agentRecord, runRecord, stepRecord, tempFile } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Page } from "playwright-core"
import { shortId } from "../src/internal/format.js"
import * as Local from "../src/Local.js"
import * as Chromium from "./browser.js"

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any

const runId = "0193a000-0000-7000-8000-00000000f1d0"
const otherRunId = "0193a000-0000-7000-8000-00000000f1d1"
const total = 20_000
const agents = ["planner", "writer", "critic"] as const
const deepSeq = 18_000
/** Screenshots (not committed), as in `ViewerBrowser.test.ts`. */
const output = path.join(import.meta.dirname, "..", "test-output")

/** Step `seq` of the big run: agents in turn, a few steps a person would look for. */
const stepAt = (seq: number) =>
  stepRecord(`0193a000-0000-7000-9000-${String(seq).padStart(12, "0")}`, runId, `agent-${seq % 3}`, seq, {
    name: seq === 17 ? "handoff_to_human" : ["plan", "write", "critique"][seq % 3]!,
    kind: seq === 17 ? "handoff" : seq % 3 === 1 ? "tool_call" : "llm_call",
    input: JSON.stringify(seq === 12_345 ? { prompt: "find the needle-in-haystack" } : { seq }),
    ...(seq === 7 ? { status: "failed" as const, output: null, error: { tag: "Quota", message: "quota exceeded" } } : {}),
    ...(seq === 15_000 ? { drift: "input.prompt" } : {})
  })

/** Writes the big run (steps 100–102 returned by a resume) and a small one through the store. */
const record = (filename: string) =>
  Effect.gen(function*() {
    const client = yield* MultiRunClient
    const endedAt = 1_700_000_000_000 + total + 10
    yield* client.writeRun(runRecord(runId, {
      name: "haystack",
      status: "completed",
      endedAt,
      replays: [{ checkpointId: "cp-1", startedAt: 1_700_000_000_500, steps: [[100, 103]], inherited: 0 }]
    }))
    yield* client.writeRun(runRecord(otherRunId, { name: "other-run", startedAt: 1_700_000_001_000 }))
    for (const [i, name] of agents.entries()) {
      yield* client.writeAgent(agentRecord(`agent-${i}`, runId, { name, status: "completed", endedAt }))
    }
    for (let seq = 0; seq < total; seq++) yield* client.writeStep(stepAt(seq))
    yield* client.flush
  }).pipe(Effect.provide(SqliteLayer({ filename })))

interface Fixture {
  readonly url: string
  readonly browser: Chromium.Browser
}

class FindFixture extends Context.Tag("@multirun/server/test/ViewerFind/Fixture")<FindFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  FindFixture,
  Effect.gen(function*() {
    const filename = yield* tempFile()
    const [, browser] = yield* Effect.all([record(filename), Chromium.scoped()], { concurrency: "unbounded" })
    const { url } = yield* Local.serve({ filename, port: 0 })
    yield* Effect.sync(() => fs.mkdirSync(output, { recursive: true }))
    return { url, browser }
  })
)

const browserTest = Chromium.withFixture(FindFixture)

/** The seqs of the step rows drawn, as a person reads them (`#7`). */
const rowSeqs = (page: Page) => page.locator(".step-row .c-seq").allTextContents()

/** Waits until the list says it holds exactly `n` matching steps. */
const matching = (page: Page, n: string) =>
  page.waitForFunction((text) => document.getElementById("steps-count")?.textContent === text, `${n} matching steps`)

/**
 * Evaluated in the page: when the row of `seq` is drawn selected inside the visible part of the
 * steps list, what the list's foot says then, and what stands for the steps not loaded yet
 * before it (`|` between); false before.
 */
const rowInView = (seq: number): string | false => {
  const row = document.querySelector(`.step-row.selected[data-seq="${seq}"]`)
  const box = document.querySelector(".steps-scroll")?.getBoundingClientRect()
  const at = row?.getBoundingClientRect()
  const inView = at !== undefined && box !== undefined && at.top >= box.top && at.bottom <= box.bottom
  return inView && `${document.getElementById("steps-count").textContent}|${document.querySelector(".steps-hole")?.textContent ?? ""}`
}

Chromium.describeChromium("finding steps and runs in the viewer", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("find in Chromium", (it) => {
    it.effect("filters a run's steps by agent, kind, status and name", () =>
      browserTest(async ({ browser, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${runId}`)
        await page.waitForSelector(".step-row")
        await page.selectOption("#filter-agent", "critic")
        await matching(page, "6,666")
        assert.deepStrictEqual([...new Set(await page.locator(".step-row .c-agent").allTextContents())], ["critic"])
        assert.include(page.url(), "agent=critic")
        await page.click("#filter-clear")
        await page.waitForSelector("#filter-clear", { state: "detached" })
        await page.selectOption("#filter-kind", "handoff")
        await matching(page, "1")
        assert.deepStrictEqual(await rowSeqs(page), ["#17"])
        await page.selectOption("#filter-kind", "")
        await page.selectOption("#filter-status", "failed")
        await matching(page, "1")
        assert.deepStrictEqual(await rowSeqs(page), ["#7"])
        assert.deepStrictEqual(await page.locator(".step-row .c-status").allTextContents(), ["failed"])
        await page.selectOption("#filter-status", "replayed")
        await matching(page, "3")
        assert.deepStrictEqual(await rowSeqs(page), ["#100", "#101", "#102"])
        await page.selectOption("#filter-status", "drifted")
        await matching(page, "1")
        assert.deepStrictEqual(await rowSeqs(page), ["#15000"])
        await page.selectOption("#filter-status", "")
        await page.fill("#filter-name", "HANDOFF")
        await page.press("#filter-name", "Enter")
        await matching(page, "1")
        assert.deepStrictEqual(await page.locator(".step-row .c-name").allTextContents(), ["handoff_to_human"])
        await page.screenshot({ path: path.join(output, "run-find.png"), fullPage: true })
        await page.close()
      }))

    it.effect("finds the step whose input holds a text, and opens it", () =>
      browserTest(async ({ browser, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${runId}`)
        await page.waitForSelector(".step-row")
        await page.fill("#filter-text", "Needle-In")
        await page.press("#filter-text", "Enter")
        await matching(page, "1")
        assert.deepStrictEqual(await rowSeqs(page), ["#12345"])
        await page.click(".step-row")
        await page.waitForFunction(() => document.getElementById("step-input")?.textContent.includes("needle-in-haystack"))
        assert.strictEqual(await page.locator(".step-detail h3").textContent(), "#12345 plan")
        // the filtered list is a link: opened again, it finds the same step
        const link = page.url()
        assert.include(link, "text=Needle-In")
        const again = await browser.newPage()
        await again.goto(link)
        await matching(again, "1")
        assert.deepStrictEqual(await rowSeqs(again), ["#12345"])
        await again.close()
        await page.close()
      }))

    it.effect("a deep link far down the run draws its step selected in view, and keeps it there as the rest loads", () =>
      browserTest(async ({ browser, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${runId}?step=${deepSeq}`)
        // when the row is first seen in view, the steps before it are not all loaded yet (the
        // page around it was read first): their place is kept and says so
        const foot = await page.waitForFunction(rowInView, deepSeq, { polling: "raf" })
        await page.screenshot({ path: path.join(output, "run-deep-link.png") })
        assert.match(String(await foot.jsonValue()), /^[\d,]+ steps loaded so far…\|[\d,]+ steps before #17750 loading…$/)
        assert.strictEqual(await page.locator(".step-detail h3").textContent(), `#${deepSeq} plan`)
        // and it stays in view while they load
        await page.waitForFunction(
          (text) => document.getElementById("steps-count")?.textContent === text,
          `${total.toLocaleString("en-US")} steps`
        )
        assert.strictEqual(await page.evaluate(rowInView, deepSeq), `${total.toLocaleString("en-US")} steps|`)
        // the rows around it are its neighbours in seq order
        const seqs = (await rowSeqs(page)).map((s) => Number(s.slice(1))).sort((a, b) => a - b)
        assert.includeMembers(seqs, [deepSeq - 1, deepSeq, deepSeq + 1])
        await page.close()
      }))

    it.effect("the runs list finds a run by its short id and by its full id", () =>
      browserTest(async ({ browser, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/`)
        await page.waitForFunction(() => document.querySelectorAll("tr.run-row").length === 2)
        const short = shortId(runId)
        assert.strictEqual(await page.locator(`tr.run-row[data-run-id="${runId}"] .run-id`).textContent(), short)
        await page.fill("#search", short)
        await page.press("#search", "Enter")
        await page.waitForFunction(() => document.querySelectorAll("tr.run-row").length === 1)
        assert.deepStrictEqual(await page.locator("tr.run-row .run-name").allTextContents(), ["haystack"])
        await page.fill("#search", otherRunId)
        await page.press("#search", "Enter")
        await page.waitForFunction(() => document.querySelector("tr.run-row .run-name")?.textContent === "other-run")
        assert.strictEqual(await page.locator("tr.run-row").count(), 1)
        await page.close()
      }))

    it.effect("the API refuses a bad filter with 400 and says which field and what it takes", () =>
      browserTest(async ({ url }) => {
        const bad = await fetch(`${url}/api/runs/${runId}/timeline?kind=banana`)
        assert.strictEqual(bad.status, 400)
        const body = await bad.json()
        assert.include(JSON.stringify(body), "kind must be one of llm_call, tool_call, retrieval, function, handoff, custom")
        const status = await fetch(`${url}/api/runs/${runId}/steps/page?status=lost`)
        assert.strictEqual(status.status, 400)
        assert.include(JSON.stringify(await status.json()), "status must be one of")
        const good = await fetch(`${url}/api/runs/${runId}/steps/page?status=failed&limit=5`)
        assert.deepStrictEqual(((await good.json()) as Array<{ seq: number }>).map((s) => s.seq), [7])
      }))
  })
})
