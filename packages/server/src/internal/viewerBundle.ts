/**
 * Finds and bundles the browser viewer (`viewer/` of this package): TypeScript modules and
 * a stylesheet bundled by esbuild into `viewer.js` and `viewer.css`, next to `index.html` and
 * `favicon.svg`. `npm run build:viewer` (and the package's `prepack`) writes them to
 * `viewer/dist/`.
 *
 * One rule decides what is served. In a checkout (`viewer/src` exists) the bundle in
 * `viewer/dist` is used while no source is newer, and otherwise bundled again in memory. An
 * installed package has no `viewer/src`: it serves `viewer/dist` as shipped, never looks at file
 * times and never bundles; when that bundle is missing, {@link ViewerNotBuilt} says so.
 */
import { Data, Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"

/** The files the server serves. */
export interface Assets {
  readonly html: string
  readonly js: string
  readonly css: string
  readonly favicon: string
}

/** The directory of this package (the one whose package.json is `@multirun/server`). */
export const packageRoot = (from: string = import.meta.dirname): string => {
  let dir = from
  for (;;) {
    const manifest = path.join(dir, "package.json")
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "@multirun/server") return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`@multirun/server: no package.json above ${from}`)
    dir = parent
  }
}

const newest = (entry: string): number => {
  if (!fs.existsSync(entry)) return 0
  const stat = fs.statSync(entry)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...fs.readdirSync(entry).map((name) => newest(path.join(entry, name))))
}

const sources = (root: string) => [
  path.join(root, "viewer", "src"),
  path.join(root, "viewer", "index.html"),
  path.join(root, "viewer", "favicon.svg"),
  path.join(root, "src", "internal", "format.ts"),
  path.join(root, "src", "internal", "runModel.ts")
]

const distFiles = ["viewer.js", "viewer.css", "index.html", "favicon.svg"] as const

/** The viewer could not be loaded: its bundle is missing (installed) or could not be built (checkout). */
export class ViewerNotBuilt extends Data.TaggedError("ViewerNotBuilt")<{
  /** What is wrong, for the log and the page. */
  readonly reason: string
  /** What the user can do about it. */
  readonly hint: string
}> {
  override get message(): string {
    return `${this.reason} ${this.hint}`
  }
}

/** Whether `root` is a checkout of this package (the viewer's sources are there), not an install. */
const isCheckout = (root: string): boolean => fs.existsSync(path.join(root, "viewer", "src"))

/** The bundle in `viewer/dist` as it is, or the files it lacks. */
const readDist = (root: string): Assets | { readonly missing: ReadonlyArray<string> } => {
  const files = distFiles.map((name) => path.join(root, "viewer", "dist", name))
  const missing = files.filter((file) => !fs.existsSync(file))
  if (missing.length > 0) return { missing }
  const [js, css, html, favicon] = files.map((file) => fs.readFileSync(file, "utf8"))
  return { js: js!, css: css!, html: html!, favicon: favicon! }
}

/** Whether a source of the viewer (in a checkout) is newer than the oldest file of `viewer/dist`. */
const isStale = (root: string): boolean => {
  const built = Math.min(...distFiles.map((name) => fs.statSync(path.join(root, "viewer", "dist", name)).mtimeMs))
  return Math.max(...sources(root).map(newest)) > built
}

/**
 * The viewer's files under the package `root`: as shipped in `viewer/dist` for an installed
 * package; in a checkout, `viewer/dist` while it is fresh, else bundled now from the sources.
 */
export const load = (root: string): Effect.Effect<Assets, ViewerNotBuilt> =>
  Effect.suspend(() => {
    const dist = readDist(root)
    if (!isCheckout(root)) {
      return "missing" in dist
        ? Effect.fail(
          new ViewerNotBuilt({
            reason: `The installed @multirun/server has no viewer bundle (missing ${dist.missing.join(", ")}).`,
            hint: "Reinstall @multirun/server."
          })
        )
        : Effect.succeed(dist)
    }
    if (!("missing" in dist) && !isStale(root)) return Effect.succeed(dist)
    return Effect.tryPromise({
      try: () => bundle(root),
      catch: (cause) =>
        new ViewerNotBuilt({
          reason: `The viewer could not be bundled from ${path.join(root, "viewer", "src")}: ${cause instanceof Error ? cause.message : String(cause)}.`,
          hint: "Run `npm run build:viewer` in the repository."
        })
    })
  })

/** Bundles the viewer from its sources with esbuild (a development dependency). */
export const bundle = async (root: string, options: { readonly minify?: boolean } = {}): Promise<Assets> => {
  const esbuild = await import("esbuild")
  const result = await esbuild.build({
    entryPoints: { viewer: path.join(root, "viewer", "src", "main.tsx") },
    bundle: true,
    write: false,
    outdir: "out",
    format: "esm",
    target: "es2022",
    platform: "browser",
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: options.minify ?? true,
    legalComments: "none",
    logLevel: "silent"
  })
  const text = (ext: string) => result.outputFiles.find((file) => file.path.endsWith(ext))?.text ?? ""
  return {
    js: text(".js"),
    css: text(".css"),
    html: fs.readFileSync(path.join(root, "viewer", "index.html"), "utf8"),
    favicon: fs.readFileSync(path.join(root, "viewer", "favicon.svg"), "utf8")
  }
}

/** Bundles the viewer and writes it to `viewer/dist/`. */
export const writeBundle = async (root: string = packageRoot()): Promise<string> => {
  const assets = await bundle(root)
  const dist = path.join(root, "viewer", "dist")
  fs.mkdirSync(dist, { recursive: true })
  const contents: Record<(typeof distFiles)[number], string> = {
    "viewer.js": assets.js,
    "viewer.css": assets.css,
    "index.html": assets.html,
    "favicon.svg": assets.favicon
  }
  for (const name of distFiles) {
    const temp = path.join(dist, `.${name}.${process.pid}`)
    fs.writeFileSync(temp, contents[name])
    fs.renameSync(temp, path.join(dist, name))
  }
  return dist
}
