/**
 * Headless Chromium for the viewer tests and benchmark, with no test framework in it (the
 * benchmark runs on plain Node.js): Debian's /usr/bin/chromium driven by playwright-core (never
 * a browser download), a fresh profile and its own temporary directory (`TMPDIR`), and every
 * console error and page error of every page collected.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"

/** Where Debian installs Chromium. */
export const executablePath = "/usr/bin/chromium"

/** Whether Chromium is installed here. */
export const hasChromium = (): boolean => fs.existsSync(executablePath)

/** A browser with a throwaway profile. */
export interface Browser {
  readonly context: BrowserContext
  /** Console errors and uncaught page errors seen so far, by page URL. */
  readonly errors: Array<{ readonly url: string; readonly text: string }>
  readonly newPage: () => Promise<Page>
  readonly close: () => Promise<void>
}

/**
 * Launches Chromium headless with its profile in `dir/p` and its temporary files in `dir/t`
 * (short names: Chromium's singleton socket goes there, and a socket path has at most 107 bytes).
 */
export const launchIn = async (dir: string, viewport: { readonly width: number; readonly height: number }): Promise<Browser> => {
  const profile = path.join(dir, "p")
  const tmp = path.join(dir, "t")
  fs.mkdirSync(profile, { recursive: true })
  fs.mkdirSync(tmp, { recursive: true })
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport,
    env: { ...process.env, TMPDIR: tmp },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  const errors: Array<{ url: string; text: string }> = []
  const watch = (page: Page) => {
    page.on("console", (message) => {
      if (message.type() === "error") errors.push({ url: page.url(), text: message.text() })
    })
    page.on("pageerror", (error) => errors.push({ url: page.url(), text: error.message }))
  }
  context.on("page", watch)
  context.pages().forEach(watch)
  return { context, errors, newPage: () => context.newPage(), close: () => context.close() }
}

/** The window size the tests and the benchmark use unless they say otherwise. */
export const defaultViewport = { width: 1400, height: 1000 }

/**
 * Launches Chromium outside a scope (the benchmark), its directory made in the system's
 * temporary directory with `dirPrefix`: `close` also removes the directory.
 */
export const launch = async (viewport = defaultViewport, dirPrefix = "multirun-bench-cr-"): Promise<Browser> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix))
  const browser = await launchIn(dir, viewport).catch((error) => {
    fs.rmSync(dir, { recursive: true, force: true })
    throw error
  })
  return {
    ...browser,
    close: async () => {
      await browser.close()
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
    }
  }
}
