/**
 * The viewer's usage page, dark mode, keyboard, run export and key choices in headless Chromium:
 * a month of spending (fixtures/spending.ts) in a SQLite file served by `Local.serve` (what
 * `multirun ui` runs), and the same runs in a project of the keyed server. docs/dashboard.png is
 * written when missing or when UPDATE_SCREENSHOTS=1; other screenshots go to test-output/.
 */
import { assert, layer } from "@effect/vitest"
import { tempDir } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import { Context, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Local from "../src/Local.js"
import * as Chromium from "./browser.js"
import { bundleCli, runCli } from "./cliBundle.js"
import { recordSpending, type Spending, spendingDay, spendingNow } from "./fixtures/spending.js"
import { layerSqlite, request, TestServer, type TestServerService } from "./TestServer.js"

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any
declare const getComputedStyle: (element: unknown) => { backgroundColor: string; color: string }
declare const sessionStorage: { getItem: (key: string) => string | null }
declare const localStorage: { getItem: (key: string) => string | null }

const output = path.join(import.meta.dirname, "..", "test-output")
const docsImage = path.join(import.meta.dirname, "..", "..", "..", "docs", "dashboard.png")
const day = 86_400_000

interface Fixture {
  /** The local viewer over the SQLite file of the spending. */
  readonly url: string
  readonly filename: string
  readonly runs: Spending
  /** The keyed server, whose project `dash` holds the same spending, and a key of it. */
  readonly keyed: TestServerService
  readonly key: string
  readonly keyedRuns: Spending
  /** The UTC days (`2026-12-07`) of today, yesterday and three days ago. */
  readonly days: { readonly today: string; readonly yesterday: string; readonly threeAgo: string }
  readonly browser: Chromium.Browser
  readonly dir: string
}

class DashboardFixture extends Context.Tag("@multirun/server/test/ViewerDashboard/Fixture")<DashboardFixture, Fixture>() {}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)

const fixtureLayer = Layer.scoped(
  DashboardFixture,
  Effect.gen(function*() {
    const keyed = yield* TestServer
    const dir = yield* tempDir("dash")
    const filename = path.join(dir, "runs.db")
    const now = spendingNow
    const runs = yield* Effect.provide(recordSpending(now), SqliteLayer({ filename }))
    const keyedRuns = yield* Effect.provide(recordSpending(now), SqliteLayer({ filename: (keyed.database as { filename: string }).filename, project: "dash" }))
    const key = yield* keyed.keyFor("dash")
    const { url } = yield* Local.serve({ filename, port: 0 })
    const browser = yield* Chromium.scoped()
    yield* Effect.sync(() => fs.mkdirSync(output, { recursive: true }))
    const days = { today: dayOf(now), yesterday: dayOf(now - day), threeAgo: dayOf(now - 3 * day) }
    return { url, filename, runs, keyed, key, keyedRuns, days, browser, dir }
  }).pipe(Effect.orDie)
).pipe(Layer.provide(layerSqlite()))

/** A test body written against the browser's promises; `api` reads the local viewer's API. */
const browserTest = (body: (fixture: Fixture & { readonly api: (path: string) => Promise<any> }) => Promise<void>) =>
  Effect.flatMap(DashboardFixture, (fixture) =>
    Effect.promise(() => body({ ...fixture, api: async (p) => (await fetch(`${fixture.url}/api${p}`)).json() })))

/** The texts of a table row's cells. */
const cells = (page: import("playwright-core").Page, selector: string) => page.locator(`${selector} td`).allTextContents()

Chromium.describeChromium("viewer dashboard, dark mode, keyboard, export, key in Chromium", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("dashboard", (it) => {
    it.effect("the usage page shows runs, steps, tokens and cost per UTC day, the total, top runs and models", () =>
      browserTest(async ({ api, browser, days, runs, url }) => {
        const report = await api(`/usage/days?until=${spendingDay}`)
        const page = await browser.newPage()
        await page.goto(`${url}/`)
        await page.click("header.top a.nav")
        await page.waitForSelector("#usage-days")
        assert.strictEqual(new URL(page.url()).pathname, "/usage")
        assert.include(await page.locator("h1").textContent(), "last 30 days")
        // the recorded month ends on spendingDay: its 30 days, whatever day the test runs on
        await page.goto(`${url}/usage?until=${spendingDay}`)
        await page.waitForSelector(`#usage-days tr[data-day="${spendingDay}"]`)
        assert.include(await page.locator("#usage-basis").textContent(), "a step counts on the day it started")
        assert.include(await page.locator("#usage-basis").textContent(), `${report.from} to ${days.today}`)
        // the numbers a person reads: the day rows, newest first
        assert.strictEqual(await page.locator("#usage-days tbody tr").count(), 30)
        assert.deepStrictEqual(await cells(page, `#usage-days tr[data-day="${days.today}"]`), [
          days.today, "3", "43", "650", "≥ $0.6000 (1 unpriced)"
        ])
        assert.deepStrictEqual(await cells(page, `#usage-days tr[data-day="${days.yesterday}"]`), [
          days.yesterday, "1", "1", "300", "$0.3000"
        ])
        assert.deepStrictEqual(await cells(page, `#usage-days tr[data-day="${days.threeAgo}"]`), [
          days.threeAgo, "1", "3", "3,000", "$3.60"
        ])
        assert.deepStrictEqual(await cells(page, `#usage-days tr[data-day="${dayOf(Date.parse(days.today) - 2 * day)}"]`)
          .then((c) => c.slice(1)), ["0", "0", "0", "$0"])
        // the whole table is the API's answer
        const rows = await page.locator("#usage-days tbody tr").evaluateAll((trs) =>
          trs.map((tr) => [tr.getAttribute("data-day"), tr.querySelectorAll("td")[2].textContent]))
        assert.deepStrictEqual(rows, [...report.days].reverse().map((d: any) => [d.day, d.steps.toLocaleString("en-US")]))
        assert.deepStrictEqual(
          await page.locator("#usage-total dd").allTextContents(),
          ["4", "47", "3,950", "≥ $4.50 (1 unpriced)"]
        )
        // the most expensive runs (linked) and models; unknown cost never shows as $0
        assert.deepStrictEqual(await page.locator("#top-runs tbody tr td:nth-child(2)").allTextContents(), [
          "research", "nightly", "triage", "loop"
        ])
        assert.deepStrictEqual(await cells(page, `#top-runs tr[data-run-id="${runs.nightly}"]`).then((c) => c.slice(1)), [
          "nightly", "3", "850", "≥ $0.8000 (1 unpriced)"
        ])
        assert.deepStrictEqual(await page.locator("#top-models tbody tr").evaluateAll((trs) =>
          trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent))), [
          ["claude-y", "2", "3,000", "$3.60"],
          ["gpt-x", "3", "900", "$0.9000"],
          ["mystery-1", "1", "50", "unknown"]
        ])
        // the bars: one per day, the most expensive day full height, a day with an unknown cost hatched
        const bars = page.locator("#cost-chart .chart-col")
        assert.strictEqual(await bars.count(), 30)
        const height = (d: string) =>
          page.locator(`#cost-chart .chart-col[data-day="${d}"] .chart-bar`).evaluate((el) => el.getBoundingClientRect().height)
        const full = await page.locator("#cost-chart .chart-bars").evaluate((el) => el.getBoundingClientRect().height - 1)
        assert.approximately(await height(days.threeAgo), full, 1)
        assert.approximately(await height(days.today), full * 0.6 / 3.6, 1)
        assert.strictEqual(await page.locator(`#cost-chart .chart-col[data-day="${days.today}"] .chart-bar.unpriced`).count(), 1)
        assert.strictEqual(
          await page.locator(`#cost-chart .chart-col[data-day="${days.today}"]`).getAttribute("title"),
          `${days.today}: ≥ $0.6000 (1 unpriced)`
        )
        await page.mouse.move(700, 990) // no hover on the header's link
        await page.screenshot({ path: path.join(output, "dashboard.png"), fullPage: true })
        if (!fs.existsSync(docsImage) || process.env.UPDATE_SCREENSHOTS === "1") {
          fs.mkdirSync(path.dirname(docsImage), { recursive: true })
          await page.screenshot({ path: docsImage }) // the viewport: the charts and the top of the table
        }
        // a top run links to its page
        await page.click(`#top-runs tr[data-run-id="${runs.research}"] a`)
        await page.waitForSelector(".run-head h1")
        assert.include(await page.locator(".run-head h1").textContent(), "research")
        await page.close()
      }))

    it.effect("follows the system's dark setting: a dark palette under prefers-color-scheme: dark", () =>
      browserTest(async ({ api, browser, runs, url }) => {
        const [first] = await api(`/runs/${runs.research}/timeline`)
        const page = await browser.newPage()
        const colors = () =>
          page.evaluate(() => {
            const of = (selector: string) => {
              const style = getComputedStyle(document.querySelector(selector))
              return { background: style.backgroundColor, color: style.color }
            }
            return { root: of(":root"), button: of("#export-run"), detail: of(".step-detail") }
          })
        await page.emulateMedia({ colorScheme: "light" })
        await page.goto(`${url}/runs/${runs.research}?step=${first.seq}`)
        await page.waitForSelector(".step-detail")
        const light = await colors()
        assert.deepStrictEqual(light.root, { background: "rgb(255, 255, 255)", color: "rgb(29, 35, 48)" })
        assert.strictEqual(light.detail.background, "rgb(255, 255, 255)")
        await page.emulateMedia({ colorScheme: "dark" })
        const dark = await colors()
        assert.deepStrictEqual(dark.root, { background: "rgb(15, 19, 26)", color: "rgb(227, 231, 238)" })
        assert.deepStrictEqual(dark.button, { background: "rgb(27, 33, 48)", color: "rgb(227, 231, 238)" })
        assert.strictEqual(dark.detail.background, "rgb(22, 27, 36)")
        await page.screenshot({ path: path.join(output, "run-page-dark.png"), fullPage: true })
        await page.goto(`${url}/usage?until=${spendingDay}`)
        await page.waitForSelector("#usage-days")
        await page.screenshot({ path: path.join(output, "dashboard-dark.png"), fullPage: true })
        await page.close()
      }))

    it.effect("keyboard: / focuses the search, j/k move through the steps into view, Esc closes the detail, typing is left alone", () =>
      browserTest(async ({ api, browser, runs, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/`)
        await page.waitForSelector("tr.run-row")
        await page.keyboard.press("/")
        assert.strictEqual(await page.evaluate(() => document.activeElement?.id), "search")
        await page.keyboard.type("jk")
        assert.strictEqual(await page.inputValue("#search"), "jk", "keys typed into the search are text")
        assert.strictEqual(new URL(page.url()).pathname, "/")

        const steps = await api(`/runs/${runs.loop}/timeline`)
        const seqs = steps.map((s: any) => s.seq)
        await page.goto(`${url}/runs/${runs.loop}`)
        await page.waitForSelector(".step-row")
        const selected = () => page.locator(".step-row.selected").getAttribute("data-seq")
        const title = () => page.locator(".step-detail h3").textContent()
        await page.keyboard.press("j")
        await page.waitForSelector(".step-detail")
        assert.strictEqual(await selected(), String(seqs[0]))
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        await page.keyboard.press("k")
        await page.waitForFunction((seq) => document.querySelector(".step-row.selected")?.getAttribute("data-seq") === String(seq), seqs[1])
        assert.strictEqual(await title(), `#${seqs[1]} poll`)
        assert.strictEqual(new URL(page.url()).searchParams.get("step"), String(seqs[1]))
        // down to the 40th step: the table scrolls it into view
        for (let i = 0; i < 45; i++) await page.keyboard.press("j")
        await page.waitForFunction((seq) => document.querySelector(".step-row.selected")?.getAttribute("data-seq") === String(seq), seqs.at(-1))
        const visible = await page.evaluate(() => {
          const box = document.querySelector(".steps-scroll").getBoundingClientRect()
          const row = document.querySelector(".step-row.selected").getBoundingClientRect()
          return row.top >= box.top && row.bottom <= box.bottom
        })
        assert.isTrue(visible, "the selected step is scrolled into view")
        await page.keyboard.press("Escape")
        await page.waitForFunction(() => document.querySelector(".step-detail") === null)
        assert.isNull(new URL(page.url()).searchParams.get("step"))
        await page.close()
      }))

    it.effect("the export button downloads the run's JSON lines, the same as `multirun export`", () =>
      Effect.gen(function*() {
        const { dir, filename, runs } = yield* DashboardFixture
        const bin = yield* bundleCli
        const cli = yield* runCli(bin, dir, ["export", runs.nightly, "--db", filename])
        assert.strictEqual(cli.code, 0, cli.stderr)
        yield* browserTest(async ({ browser, url }) => {
          const page = await browser.newPage()
          await page.goto(`${url}/runs/${runs.nightly}`)
          await page.waitForSelector("#export-run")
          const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-run")])
          assert.strictEqual(download.suggestedFilename(), `run-${runs.nightly}.jsonl`)
          const saved = path.join(dir, "downloaded.jsonl")
          await download.saveAs(saved)
          const lines = fs.readFileSync(saved, "utf8").trimEnd().split("\n")
          assert.deepStrictEqual(lines, cli.stdout.trimEnd().split("\n"))
          assert.strictEqual(JSON.parse(lines[0]!).counts.steps, 3)
          await page.close()
        })
      }))

    it.effect("the server's export is read with the key like other reads: 401 without, 404 for another project's run", () =>
      Effect.gen(function*() {
        const { key, keyed, keyedRuns } = yield* DashboardFixture
        const other = yield* keyed.keyFor("someone-else")
        yield* Effect.promise(async () => {
          const path = `/api/runs/${keyedRuns.research}/export`
          const response = await fetch(keyed.url + path, { headers: { authorization: `Bearer ${key}` } })
          assert.strictEqual(response.status, 200)
          assert.strictEqual(response.headers.get("content-disposition"), `attachment; filename="run-${keyedRuns.research}.jsonl"`)
          assert.match(response.headers.get("content-type") ?? "", /^application\/x-ndjson/)
          const lines = (await response.text()).trimEnd().split("\n")
          assert.strictEqual(JSON.parse(lines[0]!).runId, keyedRuns.research)
          assert.strictEqual((await request(keyed.url, { path })).status, 401)
          assert.strictEqual((await request(keyed.url, { path, key: other })).status, 404)
        })
      }))

    it.effect("the key: per tab unless remembered on this browser; Forget key clears it; export and usage with a key", () =>
      Effect.gen(function*() {
        const { browser, key, keyed, keyedRuns } = yield* DashboardFixture
        yield* Effect.promise(async () => {
          const deepLink = `${keyed.url}/runs/${keyedRuns.nightly}`
          const stored = (page: import("playwright-core").Page) =>
            page.evaluate(() => ({ session: sessionStorage.getItem("multirun.apiKey"), local: localStorage.getItem("multirun.apiKey") }))
          const enter = async (page: import("playwright-core").Page, remember: boolean) => {
            await page.waitForSelector("#key-form")
            assert.isFalse(await page.isChecked("#remember-key"), "remembering is off by default")
            await page.fill("#key", key)
            if (remember) await page.check("#remember-key")
            await page.click("#key-form button[type=submit]")
          }
          // not remembered: this tab only; a deep link in a new tab asks again
          const first = await browser.newPage()
          await first.goto(deepLink)
          await enter(first, false)
          await first.waitForSelector(".run-head h1")
          assert.deepStrictEqual(await stored(first), { session: key, local: null })
          const second = await browser.newPage()
          await second.goto(deepLink)
          await second.waitForSelector("#key-form")
          // remembered: a new tab opens the deep link at once
          await enter(second, true)
          await second.waitForSelector(".run-head h1")
          assert.deepStrictEqual(await stored(second), { session: key, local: key })
          const third = await browser.newPage()
          await third.goto(deepLink)
          await third.waitForSelector(".run-head h1")
          assert.include(await third.locator(".run-head h1").textContent(), "nightly")
          // with the key, the export and the usage page work on the server too
          const [download] = await Promise.all([third.waitForEvent("download"), third.click("#export-run")])
          assert.strictEqual(download.suggestedFilename(), `run-${keyedRuns.nightly}.jsonl`)
          await third.click("header.top a.nav")
          await third.waitForSelector("#usage-days")
          await third.goto(`${new URL(third.url()).origin}/usage?until=${spendingDay}`)
          await third.waitForSelector(`#usage-days tr[data-day="${spendingDay}"]`)
          assert.include(await third.locator("#usage-basis").textContent(), "dash ·")
          assert.deepStrictEqual(await third.locator("#usage-total dd").allTextContents(), ["4", "47", "3,950", "≥ $4.50 (1 unpriced)"])
          // Forget key: visible, and clears the key of this tab and of the browser
          assert.isTrue(await third.isVisible("#forget-key"))
          await third.click("#forget-key")
          await third.waitForSelector("#key-form")
          assert.deepStrictEqual(await stored(third), { session: null, local: null })
          const fourth = await browser.newPage()
          await fourth.goto(deepLink)
          await fourth.waitForSelector("#key-form")
          for (const page of [first, second, third, fourth]) await page.close()
        })
      }))

    it.effect("logged no console error on any page", () =>
      Effect.gen(function*() {
        const { browser } = yield* DashboardFixture
        assert.deepStrictEqual(browser.errors, [])
      }))
  })
})
