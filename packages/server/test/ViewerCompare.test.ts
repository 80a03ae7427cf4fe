/**
 * The compare of two runs in headless Chromium: picked on the runs page of `multirun ui`
 * (`Local.serve`) over a SQLite file holding `draft` v1 and v2 (fixtures/comparedRuns.ts) and a
 * fork with its parent (fixtures/forkedRuns.ts); a fork's page compares with its parent in one
 * click, and "compare with…" offers a run's forks and the other runs of its name; on `multirun serve` a run of
 * another project is not found. docs/compare-page.png is written when missing or when
 * UPDATE_SCREENSHOTS=1.
 */
import { assert, layer } from "@effect/vitest"
import { tempFile } from "@multirun/core/test-utils"
import { SqliteLayer } from "@multirun/sql"
import { Context, Effect, Layer, TestContext } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Local from "../src/Local.js"
import * as Chromium from "./browser.js"
import { recordComparedRuns } from "./fixtures/comparedRuns.js"
import { recordForkedRuns } from "./fixtures/forkedRuns.js"
import { layerSqlite, memoryRemote, TestServer, type TestServerService } from "./TestServer.js"

/** The page's globals, used only inside functions evaluated in the browser. */
declare const document: any

const docsImage = path.join(import.meta.dirname, "..", "..", "..", "docs", "compare-page.png")

interface Fixture {
  /** `multirun ui` over the file. */
  readonly url: string
  readonly v1: string
  readonly v2: string
  readonly parent: string
  readonly fork: string
  readonly keyed: TestServerService
  readonly browser: Chromium.Browser
}

class CompareFixture extends Context.Tag("@multirun/server/test/ViewerCompare/Fixture")<CompareFixture, Fixture>() {}

const fixtureLayer = Layer.scoped(
  CompareFixture,
  Effect.gen(function*() {
    const filename = yield* tempFile("runs.db")
    const { v1, v2 } = yield* Effect.provide(recordComparedRuns, SqliteLayer({ filename }))
    const { fork, parent } = yield* Effect.provide(
      recordForkedRuns.pipe(Effect.provide(TestContext.TestContext)),
      SqliteLayer({ filename })
    )
    const { url } = yield* Local.serve({ filename, port: 0 })
    const [keyed, browser] = yield* Effect.all([TestServer, Chromium.scoped()])
    return { url, v1, v2, parent, fork, keyed, browser }
  })
).pipe(Layer.provide(layerSqlite()))

const browserTest = Chromium.withFixture(CompareFixture)

type Page = Awaited<ReturnType<Chromium.Browser["newPage"]>>

/** The cells of the compare's rows as a person reads them. */
const rowsOf = (page: Page) =>
  page.locator("tr.compare-row").evaluateAll((rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim()))
  )

/** The cells of the per-agent and total rows. */
const totalsOf = (page: Page) =>
  page.locator(".compare-totals tbody tr").evaluateAll((rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim()))
  )

Chromium.describeChromium("run compare in Chromium", () => {
  layer(fixtureLayer, { excludeTestServices: true, timeout: "180 seconds" })("compare page", (it) => {
    it.effect("two runs picked on the runs page: the aligned steps, what differs, the deltas per step, per agent and in total", () =>
      browserTest(async ({ browser, url, v1, v2 }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/`)
        await page.waitForSelector("tr.run-row")
        assert.isTrue(await page.locator("#compare-picked").isDisabled())
        await page.check(`tr.run-row[data-run-id="${v1}"] .compare-pick`)
        await page.check(`tr.run-row[data-run-id="${v2}"] .compare-pick`)
        await page.click("#compare-picked")
        await page.waitForSelector("tr.compare-row")
        assert.strictEqual(new URL(page.url()).pathname + new URL(page.url()).search, `/compare?a=${v1}&b=${v2}`)
        assert.strictEqual(await page.locator("#compare-summary").textContent(), "6 of 7 steps differ")
        assert.match(await page.locator("#compare-a").textContent() ?? "", /^Adraftv1 completed [0-9a-f]{8}$/)
        assert.deepStrictEqual(await rowsOf(page), [
          ["planner", "plan", "1", "#0 completed · gpt-4o", "#0 completed · gpt-4o-mini", "output (output.sections[2]), model gpt-4o → gpt-4o-mini", "-60 ms", "0", "-$0.0017"],
          ["researcher", "search", "1", "#1 completed", "#1 completed", "same", "0 ms", "0", "$0"],
          ["researcher", "search", "2", "#2 completed", "#2 completed", "output (output[1])", "+10 ms", "0", "$0"],
          ["researcher", "search", "3", "—", "#3 completed", "only in B", "+30 ms", "0", "$0"],
          ["researcher", "summarize", "1", "#3 completed · gpt-4o", "—", "only in A", "-40 ms", "-50", "-$0.0010"],
          [
            "writer", "write", "1", "#4 completed · gpt-4o", "#4 completed · local-llm",
            "input (input.sections[2]), output (output.text, +1), model gpt-4o → local-llm", "-50 ms", "+100", "unknown"
          ],
          ["reviewer", "review", "1", "#5 completed", "#5 failed", "output (output), status completed → failed", "0 ms", "0", "$0"]
        ])
        assert.deepStrictEqual(
          await page.locator("tr.compare-row").evaluateAll((rows) => rows.map((row) => row.className)),
          ["changed", "same", "changed", "only-b", "only-a", "changed", "changed"].map((kind) => `compare-row ${kind}`)
        )
        assert.deepStrictEqual(await totalsOf(page), [
          ["planner", "1 → 1", "120 ms → 60 ms", "-60 ms", "100 → 100", "0", "$0.0020 → $0.000300", "-$0.0017"],
          ["researcher", "3 → 3", "120 ms → 120 ms", "0 ms", "50 → 0", "-50", "$0.0010 → $0", "-$0.0010"],
          ["writer", "1 → 1", "300 ms → 250 ms", "-50 ms", "300 → 400", "+100", "$0.0050 → unknown", "unknown"],
          ["reviewer", "1 → 1", "20 ms → 20 ms", "0 ms", "0 → 0", "0", "$0 → $0", "$0"],
          ["total", "6 → 6", "560 ms → 450 ms", "-110 ms", "450 → 500", "+50", "$0.0080 → ≥ $0.000300 (1 unpriced)", "unknown"]
        ])
        // every path of the output's difference is in the cell's title
        assert.strictEqual(
          await page.locator('tr.compare-row[data-row="writer/write#1"] .c-differs').getAttribute("title"),
          "input.sections[2]\noutput.text\noutput.words"
        )
        // a row opened: the values of A and B at each path where they differ
        await page.click('tr.compare-row[data-row="writer/write#1"] .c-step')
        await page.waitForSelector("tr.compare-detail .diff-table")
        assert.deepStrictEqual(
          await page.locator("tr.compare-detail .diff-table tbody tr").evaluateAll((rows) =>
            rows.map((row) => [...row.querySelectorAll("td")].map((td) => (td.textContent ?? "").trim()))
          ),
          [["input.sections[2]", "(absent)", "\"faq\""], ["output.text", "\"draft 1\"", "\"draft 2\""], ["output.words", "120", "150"]]
        )
        if (!fs.existsSync(docsImage) || process.env.UPDATE_SCREENSHOTS === "1") {
          fs.mkdirSync(path.dirname(docsImage), { recursive: true })
          await page.screenshot({ path: docsImage, fullPage: true })
        }
        // the failed review says why; a step of one run only shows its input and output
        await page.click('tr.compare-row[data-row="reviewer/review#1"] .c-step')
        await page.waitForSelector("tr.compare-detail .error-box")
        assert.strictEqual(await page.locator("tr.compare-detail .error-box").textContent(), "B failed: too long")
        assert.strictEqual(await page.locator("tr.compare-detail").count(), 1, "one row open at a time")
        await page.click('tr.compare-row[data-row="researcher/summarize#1"] .c-step')
        await page.waitForFunction(() => document.querySelector("tr.compare-detail")?.textContent?.includes("three rivals"))
        await page.click('tr.compare-row[data-row="researcher/summarize#1"] .c-step')
        await page.waitForFunction(() => document.querySelectorAll("tr.compare-detail").length === 0)
        await page.check("#only-differing")
        await page.waitForFunction(() => document.querySelectorAll("tr.compare-row").length === 6)
        assert.strictEqual(await page.locator("tr.compare-row.same").count(), 0)
        // swapped, the deltas change sign
        await page.click("#compare-swap")
        await page.waitForFunction(() => document.querySelector("#compare-total .d-lat")?.textContent === "+110 ms")
        assert.strictEqual(await page.locator("tr.compare-row").first().locator(".d-cost").textContent(), "+$0.0017")
        // a step's number opens it on its run's page
        await page.click('tr.compare-row[data-row="planner/plan#1"] .c-a a')
        await page.waitForSelector(".step-detail")
        assert.strictEqual(new URL(page.url()).pathname, `/runs/${v2}`)
        // there, "compare with…" offers the other run of its name: chosen, it is A and this run B
        await page.waitForSelector("#compare-with")
        assert.deepStrictEqual(await page.locator("#compare-with option").evaluateAll((os) => os.map((o) => o.value)), ["", v1])
        await page.selectOption("#compare-with", v1)
        await page.waitForFunction(() => document.querySelector("#compare-summary")?.textContent === "6 of 7 steps differ")
        assert.strictEqual(new URL(page.url()).search, `?a=${v1}&b=${v2}`)
        await page.close()
        assert.deepStrictEqual(browser.errors, [])
      }))

    it.effect("a fork's page compares with its parent in one click: the inherited steps are the parent's", () =>
      browserTest(async ({ browser, fork, parent, url }) => {
        const page = await browser.newPage()
        await page.goto(`${url}/runs/${fork}`)
        await page.click(".compare-parent")
        await page.waitForSelector("tr.compare-row")
        assert.strictEqual(new URL(page.url()).search, `?a=${parent}&b=${fork}`)
        assert.match(await page.locator("#compare-b").textContent() ?? "", /^Bfork completed [0-9a-f]{8} · fork of A$/)
        assert.strictEqual(await page.locator("#compare-summary").textContent(), "0 of 3 steps differ")
        assert.deepStrictEqual(await rowsOf(page), [
          ["writer", "a", "1", "#0 completed", "#0 completed", "inherited", "0 ms", "0", "$0"],
          ["writer", "b", "1", "#1 completed", "#1 completed", "inherited", "0 ms", "0", "unknown"],
          ["writer", "c", "1", "#2 completed", "#0 completed", "same", "0 ms", "0", "unknown"]
        ])
        assert.deepStrictEqual((await totalsOf(page)).at(-1), [
          "total", "3 → 3", "0 ms → 0 ms", "0 ms", "30 → 30", "0", "≥ $0.5000 (2 unpriced) → ≥ $0.5000 (2 unpriced)", "unknown"
        ])
        // from the parent's page, "compare with…" offers its fork: the parent A, the fork B
        await page.goto(`${url}/runs/${parent}`)
        await page.waitForSelector("#compare-with")
        assert.deepStrictEqual(await page.locator("#compare-with option").evaluateAll((os) => os.map((o) => o.value)), ["", fork])
        await page.selectOption("#compare-with", fork)
        await page.waitForSelector("tr.compare-row")
        assert.strictEqual(new URL(page.url()).search, `?a=${parent}&b=${fork}`)
        await page.close()
      }))

    it.effect("on multirun serve, a run of another project is not found", () =>
      Effect.gen(function*() {
        const { browser, keyed } = yield* CompareFixture
        const [key, otherKey] = yield* Effect.all([keyed.keyFor("compare"), keyed.keyFor("compare-other")])
        const own = yield* Effect.provide(recordComparedRuns, memoryRemote({ url: keyed.url, apiKey: key }))
        const other = yield* Effect.provide(recordComparedRuns, memoryRemote({ url: keyed.url, apiKey: otherKey }))
        yield* Effect.promise(async () => {
          const page = await browser.newPage()
          await page.goto(`${keyed.url}/compare?a=${own.v1}&b=${own.v2}`)
          await page.fill("#key", key)
          await page.click("#key-form button")
          await page.waitForSelector("tr.compare-row")
          assert.strictEqual(await page.locator("#compare-summary").textContent(), "6 of 7 steps differ")
          await page.goto(`${keyed.url}/compare?a=${own.v1}&b=${other.v2}`)
          await page.waitForSelector("[role=alert]")
          assert.strictEqual(await page.locator("[role=alert]").textContent(), `run ${other.v2} not found`)
          await page.close()
        })
      }))
  })
})
