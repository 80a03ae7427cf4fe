/**
 * Finds and bundles the browser viewer (`viewer/` of this package): TypeScript modules and
 * a stylesheet bundled by esbuild into `viewer.js` and `viewer.css`, next to `index.html` and
 * `favicon.svg`. `npm run build:viewer` writes them to `viewer/dist/`; a server that finds no
 * bundle there, or one older than the sources (in a checkout), bundles in memory at start.
 */
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

/** The prebuilt bundle in `viewer/dist`, when it exists and no source is newer. */
export const readBuilt = (root: string): Assets | undefined => {
  const dist = path.join(root, "viewer", "dist")
  const files = distFiles.map((name) => path.join(dist, name))
  if (!files.every((file) => fs.existsSync(file))) return undefined
  const built = Math.min(...files.map((file) => fs.statSync(file).mtimeMs))
  if (Math.max(...sources(root).map(newest)) > built) return undefined
  const [js, css, html, favicon] = files.map((file) => fs.readFileSync(file, "utf8"))
  return { js: js!, css: css!, html: html!, favicon: favicon! }
}

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
