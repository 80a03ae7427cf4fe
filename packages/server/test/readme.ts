/**
 * The README's TypeScript blocks as files a compiler can check, for Readme.test.ts (against the
 * sources) and OutsideInstall.test.ts (against the installed packages).
 */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/** The repository's root directory. */
export const repoRoot = path.resolve(import.meta.dirname, "..", "..", "..")

/** One fenced ```ts block: its text and the README line its first code line is on. */
export interface Snippet {
  readonly file: string
  readonly line: number
  readonly code: string
}

/** Every fenced ```ts block of a Markdown text, in order; `prefix` names their files. */
export const snippets = (markdown: string, prefix = "snippet"): Array<Snippet> => {
  const lines = markdown.split("\n")
  const found: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    found.push({ file: `${prefix}-${found.length + 1}.ts`, line: start + 1, code: lines.slice(start, end).join("\n") + "\n" })
    i = end
  }
  return found
}

/**
 * Declarations of the placeholders the tour names (the reader's own LLM client and tools), in a
 * file compiled with the snippets.
 */
export const prelude = `import type { Effect } from "effect"

declare global {
  /** The tour's stand-in for an LLM client. */
  function callModel(prompt: string): Effect.Effect<{ readonly text: string; readonly tokens: number; readonly cost: number }>
  /** The tour's stand-in for a tool. */
  function searchWeb(query: string): Effect.Effect<ReadonlyArray<string>>
}

export {}
`

/** Writes the snippets of a Markdown text (file names starting with `prefix`) and the prelude into `dir`. */
export const writeSnippets = (markdown: string, dir: string, prefix = "snippet"): Array<Snippet> => {
  const found = snippets(markdown, prefix)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "prelude.d.ts"), prelude)
  for (const snippet of found) fs.writeFileSync(path.join(dir, snippet.file), snippet.code)
  return found
}

/** The Markdown files whose TypeScript blocks must compile, by snippet file prefix. */
export const readmes: Record<string, string> = {
  "readme": "README.md",
  "core": "packages/core/README.md",
  "sql": "packages/sql/README.md",
  "server": "packages/server/README.md",
  "ai": "packages/ai/README.md"
}

/** Rewrites `PREFIX-N.ts(L,C)` in compiler output as the Markdown file and line the code is on. */
export const toReadmeLines = (output: string, found: ReadonlyArray<Snippet>): string =>
  output.replace(/(?:[^\s(]*\/)?(([a-z]+)-\d+\.ts)\((\d+),(\d+)\)/g, (all, file: string, prefix: string, line: string, column: string) => {
    const snippet = found.find((s) => s.file === file)
    return snippet === undefined ? all : `${readmes[prefix] ?? file}:${snippet.line + Number(line) - 1}:${column}`
  })

/**
 * The environment of commands run as a user would: none of the parent npm's settings, no source
 * condition, and their temporary files in `tmp` (a scoped directory, removed with it).
 */
export const commandEnv = (tmp: string): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== "NODE_OPTIONS" && key !== "INIT_CWD")
  ),
  TMPDIR: tmp
})

/** The outcome of a child process. */
export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end (never fails: the exit code is in the result). */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number }
): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = execFile(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 600_000,
      maxBuffer: 64 * 1024 * 1024
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    return Effect.sync(() => child.kill())
  })

/** The TypeScript compiler of the repository. */
export const tscPath = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc")

/** Fails the test with the command's output when it did not exit with 0. */
export const expectOk = (ran: Ran, what: string): void =>
  assert.strictEqual(ran.code, 0, `${what} exited with ${ran.code}\n${ran.stdout}\n${ran.stderr}`)

/** The version of better-sqlite3 this checkout installed (and built). */
export const betterSqliteVersion = (): string =>
  JSON.parse(fs.readFileSync(path.join(repoRoot, "node_modules", "better-sqlite3", "package.json"), "utf8")).version

/**
 * better-sqlite3's compiled binary, packed as the prebuild its installer looks for
 * (`better-sqlite3-vVERSION-node-vABI-PLATFORM-ARCH.tar.gz` holding `build/Release/`) in `dir`:
 * an install given `npm_config_better_sqlite3_local_prebuilds: dir` (prebuild-install's own
 * option) takes it instead of compiling for minutes.
 */
export const localPrebuild = (dir: string, env: NodeJS.ProcessEnv) =>
  Effect.gen(function*() {
    const module = path.join(repoRoot, "node_modules", "better-sqlite3")
    const name = `better-sqlite3-v${betterSqliteVersion()}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
    expectOk(yield* run("tar", ["-czf", path.join(dir, name), "build/Release/better_sqlite3.node"], { cwd: module, env }), "tar")
  })
