/**
 * Headless Chromium for the viewer tests and benchmark: Debian's /usr/bin/chromium driven by
 * playwright-core (never a browser download), a fresh temporary profile removed on close, and
 * every console error and page error of every page collected.
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

/** Launches Chromium headless with a fresh temporary user-data-dir. */
export const launch = async (viewport = { width: 1400, height: 1000 }): Promise<Browser> => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "multirun-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport,
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
  return {
    context,
    errors,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close()
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }
}
