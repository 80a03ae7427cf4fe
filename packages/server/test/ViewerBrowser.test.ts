/**
 * The run viewer in headless Chromium, over a real SQLite file holding a run that was killed
 * (SIGKILL) and resumed with drift, one holding a run killed and never resumed (stalled), and
 * one holding a run with a nested step, a drifted call and failed steps (a failure with data, a
 * defect), served by `Local.serve` (what `multirun ui` runs) and by the keyed server. Screenshots go to packages/server/test-output/ (not committed); docs/run-page.png
 * is written when missing or when UPDATE_SCREENSHOTS=1.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempFile } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import * as Local from "../src/Local.js"
import * as Chromium from "./browser.js"
import { type CrewDatabase, makeCrewDatabase, makeStalledDatabase, type StalledDatabase } from "./fixtures/crewDatabase.js"
import { recordForkedRuns } from "./fixtures/forkedRuns.js"
import { makeMarksDatabase, type MarksDatabase } from "./fixtures/marksDatabase.js"
import { layerSqlite, TestServer, type TestServerService } from "./TestServer.js"

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any
declare const sessionStorage: { getItem: (key: string) => string | null }
declare const localStorage: { getItem: (key: string) => string | null }

const output = path.join(import.meta.dirname, "..", "test-output")
const docsImage = path.join(import.meta.dirname, "..", "..", "..", "docs", "run-page.png")

/** What the tests share: the crew database served by `multirun ui`, the keyed server, Chromium. */
interface Fixture {
  readonly db: CrewDatabase
  /** The local viewer over the crew database. */
  readonly url: string
  readonly stalled: StalledDatabase
  /** The local viewer over the stalled database. */
  readonly stalledUrl: string
  readonly marks: MarksDatabase
  /** The local viewer over the marks database. */
  readonly marksUrl: string
  readonly keyed: TestServerService
  readonly browser: Chromium.Browser
}

class ViewerFixture extends Context.Tag("@multirun/server/test/ViewerBrowser/Fixture")<ViewerFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  ViewerFixture,
  Effect.gen(function*() {
    const keyed = yield* TestServer
    const [db, stalled, marks, browser] = yield* Effect.all(
      [makeCrewDatabase, makeStalledDatabase, makeMarksDatabase, Chromium.scoped()],
      { concurrency: "unbounded" }
    )
    const { url } = yield* Local.serve({ filename: db.filename, port: 0 })
    const { url: stalledUrl } = yield* Local.serve({ filename: stalled.filename, port: 0 })
    const { url: marksUrl } = yield* Local.serve({ filename: marks.filename, port: 0 })
    yield* Effect.sync(() => fs.mkdirSync(output, { recursive: true }))
    return { db, url, stalled, stalledUrl, marks, marksUrl, keyed, browser }
  })
).pipe(Layer.provide(layerSqlite()))

/** A test body written against the browser's promises; `api` reads the API of the crew's viewer, or of `base`. */
const browserTest = (
  body: (fixture: Fixture & { readonly api: (path: string, base?: string) => Promise<any> }) => Promise<void>
) =>
  Effect.flatMap(ViewerFixture, (fixture) =>
    Effect.promise(() => body({ ...fixture, api: async (p, base = fixture.url) => (await fetch(`${base}/api${p}`)).json() })))

Chromium.describeChromium("run viewer in Chromium", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("run viewer pages", (it) => {
    it.effect("lists runs with their drift, searches by name and tag, filters by status", () =>
      browserTest(async ({ browser, db, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/`)
        await page.waitForSelector("tr.run-row")
        assert.deepStrictEqual(
          (await page.locator("tr.run-row .run-name").allTextContents()).sort(),
          ["crew", "lonely-failure"]
        )
        // the crew's resume drifted once
        assert.strictEqual(await page.locator(`tr.run-row[data-run-id="${db.crewRunId}"] .run-drift`).textContent(), " ⚠ 1")
        assert.strictEqual(await page.locator(`tr.run-row[data-run-id="${db.failedRunId}"] .run-drift`).count(), 0)
        await page.screenshot({ path: path.join(output, "runs-page.png"), fullPage: true })
        await page.fill("#search", "cre")
        await page.press("#search", "Enter")
        await page.waitForFunction(() => document.querySelectorAll("tr.run-row").length === 1)
        assert.deepStrictEqual(await page.locator("tr.run-row .run-name").allTextContents(), ["crew"])
        await page.fill("#search", "tag:adhoc")
        await page.press("#search", "Enter")
        await page.waitForFunction(() => document.querySelector("tr.run-row .run-name")?.textContent === "lonely-failure")
        assert.strictEqual(await page.locator("tr.run-row").count(), 1)
        await page.fill("#search", "")
        await page.press("#search", "Enter")
        await page.selectOption("#status", "failed")
        await page.waitForFunction(() => document.querySelectorAll("tr.run-row").length === 1)
        assert.strictEqual(await page.locator("tr.run-row .badge").textContent(), "failed")
        assert.include(page.url(), "status=failed")
        await page.close()
      }))

    it.effect("draws a lane per agent name with attempts, a bar per step, replayed and drifted steps marked", () =>
      browserTest(async ({ api, browser, db, url }) => {
        const [agents, steps] = await Promise.all([api(`/runs/${db.crewRunId}/agents`), api(`/runs/${db.crewRunId}/timeline`)])
        const names = [...new Set(agents.map((a: any) => a.name))] as Array<string>
        assert.strictEqual(agents.length, 5) // the writer was cut off by the crash and started again
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${db.crewRunId}`)
        await page.waitForSelector(".bar")
        assert.strictEqual(await page.locator(".timeline .lane[data-lane]").count(), names.length)
        assert.deepStrictEqual(
          (await page.locator(".timeline .lane[data-lane]").evaluateAll((els) => els.map((e) => e.getAttribute("data-lane")))).sort(),
          names.sort()
        )
        assert.strictEqual(await page.locator(".bar").count(), steps.length)
        assert.strictEqual(await page.locator(".bar.replayed").count(), steps.filter((s: any) => s.replayed).length)
        // the crash: the writer's interrupted part is attempt 1 of the writer lane, not a second lane
        const writer = page.locator('.lane[data-lane="writer"]')
        assert.deepStrictEqual(await writer.locator(".attempt").evaluateAll((els) => els.map((e) => e.getAttribute("data-attempt"))), ["1", "2"])
        assert.strictEqual(await writer.locator(".attempt.a-interrupted").count(), 1)
        // drift: the planner's plan ran again with another prompt after the resume
        const drifted = steps.find((s: any) => s.name === "plan" && s.seq > 0)
        assert.strictEqual(drifted.drift, "input.prompt")
        assert.strictEqual(await page.locator(".bar.drift").count(), 1)
        assert.strictEqual(await page.locator(".bar.drift").getAttribute("data-seq"), String(drifted.seq))
        assert.include(await page.locator(".bar.drift").getAttribute("title"), "⚠ drift at input.prompt")
        assert.strictEqual(await page.locator("#run-drifts").textContent(), "⚠ 1 step")
        // checkpoints at one point of the axis share a mark, which lists their ids
        const marked = await page.locator(".cp-mark").evaluateAll((els) => els.flatMap((e) => e.getAttribute("data-checkpoint")!.split(" ")))
        assert.strictEqual(marked.length, (await api(`/runs/${db.crewRunId}/checkpoints`)).length)
        assert.include(await page.locator("#wall-time").textContent(), "s")
        // the run's token split
        assert.match(await page.locator("#run-tokens").textContent() ?? "", /^1,138 \([\d,]+ in · [\d,]+ out · [\d,]+ cached\)$/)
        await page.screenshot({ path: path.join(output, "run-page.png"), fullPage: true })
        await page.close()
      }))

    it.effect("shows a step's input, usage and model, and which resume replayed it", () =>
      browserTest(async ({ api, browser, db, url }) => {
        const [steps, run] = await Promise.all([api(`/runs/${db.crewRunId}/timeline`), api(`/runs/${db.crewRunId}`)])
        // a replayed call writes no step: the resume lists the records it returned, by seq
        const replayedSeqs = new Set<number>(
          run.replays.flatMap((r: any) => r.steps.flatMap(([from, to]: [number, number]) => Array.from({ length: to - from }, (_, i) => from + i)))
        )
        const original = steps.find((s: any) => s.name === "summarize" && replayedSeqs.has(s.seq))
        assert.isTrue(steps.every((s: any) => !s.replayed))
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${db.crewRunId}`)
        await page.click(`.bar[data-seq="${original.seq}"]`)
        await page.waitForSelector("#step-input .json")
        assert.include(await page.locator(".step-detail h3").textContent(), `#${original.seq} summarize`)
        assert.include(await page.locator("#step-input").textContent(), "Summarize")
        assert.include(await page.locator("#step-input").textContent(), "fake-1")
        assert.strictEqual(await page.locator("#input-hash").textContent(), original.inputHash)
        assert.match(await page.locator("#step-replays").textContent() ?? "", /^↺ Replayed by the resume at \+/)
        // the executed call: its token split, cost and model
        assert.strictEqual(
          await page.locator("#step-tokens").textContent(),
          `${original.tokensUsed} (${original.inputTokens} in · ${original.outputTokens} out · ${original.cachedInputTokens} cached)`
        )
        assert.strictEqual(await page.locator("#step-model").textContent(), "fake-1")
        assert.match(await page.locator("#step-cost").textContent() ?? "", /^\$0\.\d+$/)
        assert.include(await page.locator(".run-head").textContent(), "+ 4 replayed")
        if (!fs.existsSync(docsImage) || process.env.UPDATE_SCREENSHOTS === "1") {
          fs.mkdirSync(path.dirname(docsImage), { recursive: true })
          await page.screenshot({ path: docsImage, fullPage: true })
        }
        await page.close()
      }))

    it.effect("marks a drifted step with the changed input's path, counts drift, nests a step under its parent, shows error kinds and data", () =>
      browserTest(async ({ api, browser, marks, marksUrl }) => {
        const [steps, page1] = await Promise.all([
          api(`/runs/${marks.runId}/timeline`, marksUrl),
          api(`/runs/${marks.runId}/steps/page?limit=1`, marksUrl)
        ])
        const named = (name: string) => steps.find((s: any) => s.name === name)
        const [outline, fetchStep, drifted] = [named("outline"), named("fetch"), steps.find((s: any) => s.drift != null)]
        // the API carries the marks to the page: the parent, the drift path
        assert.strictEqual(fetchStep.parentId, outline.id)
        assert.strictEqual(drifted.drift, "input.temperature")
        assert.strictEqual(page1[0].id, outline.id)
        assert.isUndefined(page1[0].parentId, "a step at the top of its agent has no parent")
        const page = await browser.newPage()
        await page.goto(`${marksUrl}/runs/${marks.runId}`)
        await page.waitForSelector(".step-row")
        assert.strictEqual(await page.locator("#run-drifts").textContent(), "⚠ 1 step")
        // the row: a visible ⚠ whose title names the path
        const mark = page.locator(`.step-row[data-seq="${drifted.seq}"] .drift-mark`)
        assert.isTrue(await mark.isVisible())
        assert.include(await mark.getAttribute("title"), "input.temperature")
        assert.strictEqual(await page.locator(".step-row .drift-mark").count(), 1)
        // nesting: fetch is indented under outline
        assert.strictEqual(await page.locator(`.step-row[data-seq="${outline.seq}"] .c-name`).getAttribute("data-depth"), "0")
        const nested = page.locator(`.step-row[data-seq="${fetchStep.seq}"] .c-name`)
        assert.strictEqual(await nested.getAttribute("data-depth"), "1")
        assert.include(await nested.textContent(), "↳ fetch")
        // the detail of the drifted step
        await page.click(`.step-row[data-seq="${drifted.seq}"]`)
        await page.waitForSelector("#step-drift")
        assert.strictEqual(await page.locator("#drift-path").textContent(), "input.temperature")
        assert.include(await page.locator(".step-detail .badges").textContent(), "⚠ drift")
        await page.screenshot({ path: path.join(output, "drifted-step.png"), fullPage: true })
        // the nested step's detail links its parent
        await page.click(`.step-row[data-seq="${fetchStep.seq}"]`)
        await page.waitForSelector("#parent-link")
        assert.strictEqual(await page.locator("#parent-link").textContent(), `#${outline.seq} outline`)
        await page.click("#parent-link")
        await page.waitForFunction((seq) => document.querySelector(".step-detail h3")?.textContent === `#${seq} outline`, outline.seq)
        assert.strictEqual(await page.locator("#step-parent").count(), 0)
        // errors: their kind, and a typed failure's own fields as JSON
        await page.click(`.step-row[data-seq="${named("render").seq}"]`)
        await page.waitForFunction(() => document.querySelector("#error-kind")?.textContent === " (defect)")
        assert.include(await page.locator("#step-error").textContent(), "the renderer crashed")
        assert.strictEqual(await page.locator("#step-error-data").count(), 0)
        await page.click(`.step-row[data-seq="${named("publish").seq}"]`)
        await page.waitForFunction(() => document.querySelector("#error-kind")?.textContent === " (failure)")
        assert.include(await page.locator("#step-error").textContent(), "RateLimited: rate limited")
        const data = await page.locator("#step-error-data").textContent() ?? ""
        assert.include(data, "retryAfterMs")
        assert.include(data, "30000")
        await page.close()
      }))

    it.effect("says so when a step's cost is unknown (a model without a price)", () =>
      browserTest(async ({ api, browser, db, url }) => {
        const steps = await api(`/runs/${db.failedRunId}/timeline`)
        const estimate = steps.find((s: any) => s.name === "estimate")
        assert.strictEqual(estimate.costUsd, null)
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${db.failedRunId}?step=${estimate.seq}`)
        await page.waitForSelector("#step-cost")
        assert.strictEqual(await page.locator("#step-cost").textContent(), "unknown")
        assert.strictEqual(await page.locator("#step-model").textContent(), "mystery-1")
        assert.include(await page.locator("#run-cost").textContent(), "unknown")
        // the lane of the step without a price: its cost is unknown, never $0
        const lane = await page.locator(".lane[data-lane] .lane-label").textContent() ?? ""
        assert.include(lane, "unknown")
        assert.notInclude(lane, "$0")
        await page.close()
      }))

    it.effect("tells a fork's inheritance in its header, and unknown totals as unknown or ≥ the known sum, never $0", () =>
      Effect.scoped(Effect.gen(function*() {
        const filename = yield* tempFile()
        const { fork, parent, unpriced } = yield* Effect.provide(recordForkedRuns, SqliteLayer({ filename }))
        const { url } = yield* Local.serve({ filename, port: 0 })
        yield* browserTest(async ({ browser }) => {
          const page = await browser.newPage()
          await page.goto(`${url}/runs/${fork}`)
          await page.waitForSelector("#run-inherited")
          assert.strictEqual(await page.locator("#run-inherited").textContent(), "2 steps · 20 tokens · ≥ $0.5000 (1 unpriced)")
          assert.strictEqual(await page.locator("#run-cost").textContent(), "unknown")
          await page.goto(`${url}/runs/${parent}`)
          await page.waitForFunction(() => document.querySelector("#run-cost")?.textContent === "≥ $0.5000 (2 unpriced)")
          assert.strictEqual(await page.locator("#run-inherited").count(), 0, "not a fork: nothing inherited")
          await page.goto(`${url}/`)
          await page.waitForSelector("tr.run-row")
          const cost = async (id: string) => await page.locator(`tr.run-row[data-run-id="${id}"]`).textContent() ?? ""
          assert.include(await cost(unpriced), "unknown")
          assert.notInclude(await cost(unpriced), "$0")
          assert.include(await cost(parent), "≥ $0.5000 (2 unpriced)")
          await page.close()
        })
      })))

    it.effect("shows a run whose process died as stalled, with its owner's last sighting, and stops its wall time", () =>
      browserTest(async ({ browser, stalled, stalledUrl }) => {
        const page = await browser.newPage()
        await page.goto(`${stalledUrl}/`)
        await page.waitForSelector("tr.run-row")
        const row = page.locator(`tr.run-row[data-run-id="${stalled.runId}"]`)
        assert.strictEqual(await row.locator(".badge").textContent(), "stalled")
        assert.match(await row.locator(".badge").getAttribute("title") ?? "", /^running, but its owner \(pid \d+ on .+\) was last seen /)
        assert.match(await row.locator(".run-id").textContent() ?? "", /^[0-9a-f]{8}$/)
        assert.strictEqual(await row.locator(".run-id").getAttribute("title"), stalled.runId)
        // the list redraws every second; a stalled run's wall time stays where its owner was last seen
        const wall = await row.locator(".wall").textContent()
        await page.waitForTimeout(2200)
        assert.strictEqual(await row.locator(".wall").textContent(), wall)
        await page.selectOption("#status", "running")
        await page.waitForSelector("td.empty")
        await page.selectOption("#status", "stalled")
        await page.waitForSelector("tr.run-row")
        assert.strictEqual(await page.locator("tr.run-row").count(), 1)
        assert.include(page.url(), "status=stalled")

        await page.click("tr.run-row .run-name")
        await page.waitForSelector("#run-stalled")
        assert.strictEqual(await page.locator("#run-status").textContent(), "stalled")
        const box = await page.locator("#run-stalled").textContent() ?? ""
        assert.match(box, /its owner \(pid \d+ on .+\) was last seen/)
        assert.include(box, `withRun({ name: "stuck-crew", resume: { runId: "${stalled.runId}", latest: true } })`)
        assert.isNotEmpty(await page.locator("#owner-last-seen").textContent())
        // the page polls a running run every 2 s: the wall time does not move
        const runWall = await page.locator("#wall-time").textContent()
        await page.waitForTimeout(4500)
        assert.strictEqual(await page.locator("#wall-time").textContent(), runWall)
        await page.screenshot({ path: path.join(output, "stalled-run.png"), fullPage: true })
        await page.close()
      }))

    it.effect("diffs two checkpoints with the changed key's two values", () =>
      browserTest(async ({ api, browser, db, url }) => {
        const checkpoints = await api(`/runs/${db.crewRunId}/checkpoints`)
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${db.crewRunId}`)
        await page.waitForSelector(".cp-table")
        await page.check(`tr[data-checkpoint="${checkpoints[0].id}"] input[name="cp-a"]`)
        await page.check(`tr[data-checkpoint="${checkpoints[1].id}"] input[name="cp-b"]`)
        const changed = page.locator('#checkpoint-diff tr.d-changed[data-key="run.phase"]')
        await changed.waitFor()
        assert.include(await changed.locator(".before").textContent(), "\"planned\"")
        assert.include(await changed.locator(".after").textContent(), "\"researched\"")
        assert.strictEqual(await page.locator('#checkpoint-diff tr.d-added[data-key="run.notes"]').count(), 1)
        assert.include(await page.locator("#checkpoint-diff h4").textContent(), "4 step(s)")
        await page.close()
      }))

    it.effect("asks for a key, says so on 401, and lists runs with a good key", () =>
      Effect.gen(function*() {
        const { keyed } = yield* ViewerFixture
        const key = yield* keyed.keyFor("viewer")
        yield* browserTest(async ({ browser }) => {
          const page = await browser.newPage()
          await page.goto(`${keyed.url}/`)
          await page.waitForSelector("#key-form")
          await page.fill("#key", "mr_not_a_key")
          await page.click("#key-form button")
          await page.waitForSelector("#key-form [role=alert]")
          assert.include(await page.locator("#key-form [role=alert]").textContent(), "unknown API key")
          await page.fill("#key", key)
          await page.click("#key-form button")
          await page.waitForSelector("td.empty")
          assert.strictEqual(await page.locator("td.empty").textContent(), "No runs yet.")
          // the key lives as long as the tab: in sessionStorage, never in localStorage
          const stored = await page.evaluate(() => ({
            session: sessionStorage.getItem("multirun.apiKey"),
            local: localStorage.getItem("multirun.apiKey")
          }))
          assert.deepStrictEqual(stored, { session: key, local: null })
          await page.reload()
          await page.waitForSelector("td.empty")
          await page.close()
          // another tab (a new session) asks again
          const other = await browser.newPage()
          await other.goto(`${keyed.url}/`)
          await other.waitForSelector("#key-form")
          await other.close()
        })
      }))

    it.effect("the API docs page renders Scalar under its CSP, with no inline script", () =>
      Effect.gen(function*() {
        const { keyed } = yield* ViewerFixture
        yield* browserTest(async ({ browser }) => {
          const page = await browser.newPage()
          const violations: Array<string> = []
          page.on("console", (message) => {
            if (message.text().includes("Content Security Policy")) violations.push(message.text())
          })
          const response = await page.goto(`${keyed.url}/docs`)
          assert.include(response?.headers()["content-security-policy"], "frame-ancestors 'none'")
          assert.strictEqual(await page.locator("script:not([src]):not([type='application/json'])").count(), 0)
          // Scalar ran: the operations of every group and the document's version are on the page
          await page.waitForFunction(() => document.body.innerText.includes("/api/ingest"), undefined, { timeout: 30_000 })
          const text = await page.evaluate(() => document.body.innerText as string)
          for (const word of ["health", "runs", "checkpoints", "ingest", "v0.2.0"]) assert.include(text, word)
          await page.screenshot({ path: path.join(output, "docs-page.png"), fullPage: false })
          assert.deepStrictEqual(violations, [])
          await page.close()
        })
      }))

    it.effect("logged no console error on any page (but the refused key's 401)", () =>
      Effect.gen(function*() {
        const { browser, keyed } = yield* ViewerFixture
        const unexpected = browser.errors.filter((e) => !(e.url.startsWith(keyed.url) && e.text.includes("401")))
        assert.deepStrictEqual(unexpected, [])
      }))
  })
})
