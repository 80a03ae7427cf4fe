/**
 * multirun as a new user gets it: the packages are built and packed (`npm pack`), installed from
 * their tarballs into a project in the system temp directory (outside this repository) next to
 * effect 3 from the registry, checked by publint and arethetypeswrong, type-checked under a strict
 * tsconfig with `nodenext` and `bundler` resolution, and run with plain `node`: a run with two
 * agents on SQLite, a checkpoint, a process that dies, a resume that replays, exact totals; then the
 * installed `multirun` command, and its viewer (`multirun ui` and `multirun serve`) in Chromium. `@multirun/ai` is packed, checked and installed too (with
 * `@effect/ai` and `@effect/ai-openai`), so the README blocks that use it type-check against it.
 * Everything happens in a scoped temporary directory (the commands' own temporary files
 * included), removed at the end. Slow (npm install builds better-sqlite3): minutes.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "@multirun/core/test-utils"
import { publint } from "publint"
import * as Chromium from "./browser.js"
import {
  betterSqliteVersion,
  commandEnv,
  expectOk,
  localPrebuild,
  type Ran,
  readmes,
  repoRoot,
  run,
  type Snippet,
  toReadmeLines,
  writeSnippets
} from "./readme.js"

const serverVersion: string =
  JSON.parse(fs.readFileSync(path.join(repoRoot, "packages", "server", "package.json"), "utf8")).version

/** One packed package. */
interface Packed {
  readonly name: string
  readonly tarball: string
  readonly size: number
  readonly files: ReadonlyArray<string>
}

/** What the compiler said of the user's program and the README blocks, one program under `tsconfig.json`. */
interface Checked {
  readonly ran: Ran
  readonly found: ReadonlyArray<Snippet>
}

/** The installed project. */
class OutsideProject extends Context.Tag("test/OutsideProject")<OutsideProject, {
  readonly dir: string
  readonly env: NodeJS.ProcessEnv
  readonly packed: ReadonlyArray<Packed>
  /**
   * `tsc -p tsconfig.json`, run once for the tests that read it: the program (emitted to `out/`)
   * and the README blocks are one program, so the installed declarations are checked
   * (`skipLibCheck: false`) once for both.
   */
  readonly checked: Effect.Effect<Checked>
}>() {}

/** A user's program: two agents on SQLite, a checkpoint; `start` dies after it, `resume` finishes. */
const program = `import { Checkpoint, RunContext, step, withAgent, withRun } from "@multirun/core"
import { MultiRunClient } from "@multirun/core/MultiRunClient"
import { SqliteLayer } from "@multirun/sql"
import { Effect, Option } from "effect"

const [mode, filename, resumeId] = process.argv.slice(2)
if ((mode !== "start" && mode !== "resume") || filename === undefined) throw new Error("usage: main.js start|resume FILE [RUN_ID]")

const executed: Array<string> = []
/** Stands in for an LLM client: records what it was asked. */
const callModel = (prompt: string) =>
  Effect.sync(() => {
    executed.push(prompt)
    const planning = prompt.startsWith("plan")
    return { text: \`answer(\${prompt})\`, tokens: planning ? 100 : 200, cost: planning ? 0.25 : 0.5 }
  })

const ask = (prompt: string) =>
  callModel(prompt).pipe(
    step("ask", { kind: "llm_call", input: { prompt }, usage: (r) => ({ tokensUsed: r.tokens, costUsd: r.cost }) })
  )

const research = withRun(
  mode === "resume" && resumeId !== undefined ? { name: "outside", resume: { runId: resumeId, latest: true } } : { name: "outside" }
)(Effect.gen(function*() {
  const run = yield* RunContext
  console.log(\`RUN \${run.runId}\`)
  const plan = yield* withAgent("planner")(ask("plan the report"))
  yield* run.setState("plan", plan.text)
  yield* run.checkpoint("planned")
  // the first process dies here, after the checkpoint
  if (mode === "start") yield* Effect.sync(() => process.exit(3))
  const draft = yield* withAgent("writer")(ask(\`write: \${plan.text}\`))
  return { runId: run.runId, text: draft.text }
}))

const main = Effect.gen(function*() {
  const { runId, text } = yield* research
  const client = yield* MultiRunClient
  const run = Option.getOrThrow(yield* client.getRun(runId))
  const steps = yield* client.listSteps(runId)
  const runs = yield* client.listRuns()
  console.log(\`totals: \${run.stepCount} steps, \${run.tokensUsed} tokens, $\${run.costUsd}\`)
  console.log(JSON.stringify({
    status: run.status,
    stepCount: run.stepCount,
    tokensUsed: run.tokensUsed,
    costUsd: run.costUsd,
    // the recorded steps the resume returned instead of executing them (no rows of their own)
    replayed: steps.filter((s) => (run.replays ?? []).some((r) => Checkpoint.covers(r.steps, s.seq))).map((s) => s.name),
    executed,
    runs: runs.length,
    text
  }))
})

Effect.runPromise(main.pipe(Effect.provide(SqliteLayer({ filename })))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
`

/** A strict user configuration; `skipLibCheck: false` checks our declarations too. */
const strict = {
  target: "ES2022",
  lib: ["ES2022", "DOM", "DOM.Iterable"],
  types: ["node"],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false
}
const tsconfigs: Record<string, unknown> = {
  "tsconfig.json": {
    compilerOptions: { ...strict, module: "NodeNext", moduleResolution: "NodeNext", rootDir: ".", outDir: "out" },
    include: ["src", "readme"]
  },
  "tsconfig.bundler.json": {
    compilerOptions: { ...strict, module: "Preserve", moduleResolution: "Bundler", noEmit: true },
    include: ["src"]
  }
}

const OutsideProjectLive = Layer.scoped(
  OutsideProject,
  Effect.gen(function*() {
    const root = yield* tempDir("outside")
    const packs = path.join(root, "packs")
    fs.mkdirSync(packs)
    const tmp = path.join(root, "tmp")
    fs.mkdirSync(tmp)
    const env = commandEnv(tmp)
    // each package's prepack script builds a fresh dist/ (tsc -b) before it is packed
    const pack = yield* run("npm", ["pack", "--workspaces", "--pack-destination", packs, "--json"], {
      cwd: repoRoot,
      env,
      timeoutMs: 600_000
    })
    expectOk(pack, "npm pack")
    const listed: Array<{ name: string; filename: string; size: number; files: Array<{ path: string }> }> = JSON.parse(
      pack.stdout.slice(pack.stdout.indexOf("["))
    )
    const packed = listed.map((p) => ({
      name: p.name,
      tarball: path.join(packs, p.filename),
      size: p.size,
      files: p.files.map((f) => f.path)
    }))

    const dir = path.join(root, "app")
    fs.mkdirSync(path.join(dir, "src"), { recursive: true })
    const tarball = (name: string) => `file:${packed.find((p) => p.name === name)!.tarball}`
    fs.writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify(
        {
          name: "multirun-outside-app",
          private: true,
          type: "module",
          // `npm i @multirun/core @multirun/sql effect@^3.22`, `npm i @multirun/server`,
          // `npm i @multirun/ai @effect/ai` (with a provider), from the tarballs, and the
          // OpenTelemetry packages of the README's example
          // (`npm i @effect/opentelemetry @opentelemetry/sdk-trace-base @opentelemetry/exporter-trace-otlp-http`)
          dependencies: {
            "@multirun/core": tarball("@multirun/core"),
            "@multirun/sql": tarball("@multirun/sql"),
            "@multirun/server": tarball("@multirun/server"),
            "@multirun/ai": tarball("@multirun/ai"),
            "@effect/ai": "^0.37.0",
            "@effect/ai-openai": "^0.41.0",
            "@effect/opentelemetry": "^0.64.1",
            "@opentelemetry/exporter-trace-otlp-http": "~0.223.1",
            "@opentelemetry/sdk-trace-base": "^2.2.0",
            "effect": "^3.22.0"
          },
          devDependencies: { "typescript": "~5.9.0", "@types/node": "^20.19.0" },
          // the better-sqlite3 this checkout tested, so its built binary serves as the prebuild
          overrides: { "better-sqlite3": betterSqliteVersion() },
          allowScripts: { "better-sqlite3": true }
        },
        null,
        2
      )
    )
    fs.writeFileSync(path.join(dir, "src", "main.ts"), program)
    for (const [file, config] of Object.entries(tsconfigs)) {
      fs.writeFileSync(path.join(dir, file), JSON.stringify(config, null, 2))
    }
    // better-sqlite3 from the binary this checkout built, not compiled again (minutes)
    const prebuilds = path.join(root, "prebuilds")
    fs.mkdirSync(prebuilds)
    yield* localPrebuild(prebuilds, env)
    const install = yield* run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline"], {
      cwd: dir,
      env: { ...env, npm_config_better_sqlite3_local_prebuilds: prebuilds },
      timeoutMs: 1_200_000
    })
    expectOk(install, "npm install")
    const checked = yield* Effect.cached(Effect.gen(function*() {
      const found = Object.entries(readmes).flatMap(([prefix, file]) =>
        writeSnippets(fs.readFileSync(path.join(repoRoot, file), "utf8"), path.join(dir, "readme"), prefix)
      )
      return { ran: yield* tsc({ dir, env }, "tsconfig.json"), found }
    }))
    return { dir, env, packed, checked }
  })
)

type Project = typeof OutsideProject.Service

const tsc = ({ dir, env }: Pick<Project, "dir" | "env">, project: string) =>
  run(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", project], { cwd: dir, env })

const node = ({ dir, env }: Project, args: ReadonlyArray<string>) => run(process.execPath, args, { cwd: dir, env, timeoutMs: 120_000 })

/** Runs an installed command with `npx` in the project. */
const npx = ({ dir, env }: Project, args: ReadonlyArray<string>) => run("npx", ["--no", "--", ...args], { cwd: dir, env })

/** The compiler's errors outside the README blocks: the program's, and the installed declarations'. */
const programErrors = ({ ran }: Checked) =>
  `${ran.stdout}\n${ran.stderr}`.split("\n").filter((line) => /error TS\d+/.test(line) && !line.startsWith("readme/"))

const compiled = (project: Project) =>
  Effect.gen(function*() {
    const checked = yield* project.checked
    assert.deepStrictEqual(programErrors(checked), [], "tsc (nodenext)")
    return path.join(project.dir, "out", "src", "main.js")
  })

/**
 * Starts an installed `multirun` command that serves (`serve`, `ui`) and resolves with the URL it
 * prints (`found` captures it); the scope stops it (SIGINT) and waits for it to exit.
 */
const startServing = ({ dir, env }: Project, args: ReadonlyArray<string>, found: RegExp) =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(process.execPath, [path.join(dir, "node_modules", ".bin", "multirun"), ...args], { cwd: dir, env })),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGINT")
      })
  ).pipe(
    Effect.flatMap((child) =>
      Effect.async<string, Error>((resume) => {
        let out = ""
        child.stdout.on("data", (chunk) => {
          out += chunk
          const url = found.exec(out)?.[1]
          if (url !== undefined) resume(Effect.succeed(url))
        })
        child.once("exit", (code) => resume(Effect.fail(new Error(`multirun ${args[0]} exited with ${code}: ${out}`))))
      })
    ),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`multirun ${args[0]} did not start`) })
  )

/** The installed `multirun serve` on a free loopback port. */
const serve = (project: Project, args: ReadonlyArray<string>) =>
  startServing(project, ["serve", "--port", "0", ...args], /listening on (http:\/\/\S+)/)

/** The installed `multirun ui` on a free port of 127.0.0.1. */
const ui = (project: Project, args: ReadonlyArray<string>) =>
  startServing(project, ["ui", "--port", "0", ...args], /multirun ui: (http:\/\/\S+?)\/? /)

/**
 * Opens the viewer at `base` in Chromium: the runs page lists the run by name, and its run page
 * shows the name in its heading; both pages answer 200. With `key`, enters it in the key form
 * first (the keyed server).
 */
const viewRun = (browser: Chromium.Browser, base: string, run: { readonly id: string; readonly name: string }, key?: string) =>
  Effect.promise(async () => {
    const page = await browser.newPage()
    const runs = await page.goto(`${base}/`)
    assert.strictEqual(runs?.status(), 200, `${base}/: ${await runs?.text()}`)
    if (key !== undefined) {
      await page.fill("#key", key)
      await page.click("#key-form button")
    }
    const row = page.locator(`tr.run-row[data-run-id="${run.id}"] .run-name`)
    await row.waitFor()
    assert.strictEqual(await row.textContent(), run.name)
    const runPage = await page.goto(`${base}/runs/${run.id}`)
    assert.strictEqual(runPage?.status(), 200, `${base}/runs/${run.id}: ${await runPage?.text()}`)
    await page.waitForSelector(".run-head h1")
    assert.include(await page.locator(".run-head h1").textContent(), run.name)
    await page.close()
  })

describe("outside install", () => {
  layer(OutsideProjectLive, { timeout: "25 minutes", excludeTestServices: true })("a project outside the repository", (it) => {
    it.effect("the tarballs hold dist, src, README and CHANGELOG (and the server its built viewer); no tests, benchmarks, tsconfig or build info", () =>
      Effect.gen(function*() {
        const { packed } = yield* OutsideProject
        assert.sameMembers(packed.map((p) => p.name), ["@multirun/core", "@multirun/sql", "@multirun/server", "@multirun/ai"])
        for (const p of packed) {
          console.log(`${path.basename(p.tarball)}: ${p.size} bytes, ${p.files.length} files`)
          assert.includeMembers([...p.files], [
            "package.json",
            "README.md",
            "CHANGELOG.md",
            "dist/index.js",
            "dist/index.d.ts",
            "dist/index.js.map",
            "dist/index.d.ts.map",
            "src/index.ts"
          ], p.name)
          const unexpected = p.files.filter((file) =>
            !/^(dist|src)\//.test(file) && !["package.json", "README.md", "CHANGELOG.md", "bin/multirun.js"].includes(file) &&
              !(p.name === "@multirun/server" && file.startsWith("viewer/dist/")) ||
            /(^|\/)(test|benchmark)s?\//.test(file) || /tsconfig|tsbuildinfo/.test(file)
          )
          assert.deepStrictEqual(unexpected, [], p.name)
        }
        const server = packed.find((p) => p.name === "@multirun/server")!
        assert.include([...server.files], "bin/multirun.js")
        assert.includeMembers([...server.files], ["viewer/dist/index.html", "viewer/dist/viewer.js"])
      }))

    it.effect("publint (strict) and arethetypeswrong (ESM-only profile) find no problem", () =>
      Effect.gen(function*() {
        const { dir, env, packed } = yield* OutsideProject
        for (const p of packed) {
          const bytes = fs.readFileSync(p.tarball)
          const { messages } = yield* Effect.promise(() =>
            publint({ pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }, strict: true })
          )
          assert.deepStrictEqual(messages, [], `publint ${p.name}`)
          const attw = yield* run(
            process.execPath,
            [path.join(repoRoot, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js"), p.tarball, "--profile", "esm-only", "--format", "ascii"],
            { cwd: dir, env }
          )
          expectOk(attw, `attw ${p.name}`)
        }
      }), 300_000)

    it.effect("a strict program type-checks under moduleResolution nodenext and bundler (skipLibCheck false)", () =>
      Effect.gen(function*() {
        const project = yield* OutsideProject
        const checked = yield* project.checked
        // the README blocks' errors are the next test's
        assert.deepStrictEqual(programErrors(checked), [], `tsc (nodenext)\n${checked.ran.stdout}\n${checked.ran.stderr}`)
        assert.isTrue(checked.ran.code === 0 || checked.ran.stdout.includes("readme/"), `tsc (nodenext) exited with ${checked.ran.code}`)
        assert.isTrue(fs.existsSync(path.join(project.dir, "out", "src", "main.js")))
        expectOk(yield* tsc(project, "tsconfig.bundler.json"), "tsc (bundler)")
      }), 600_000) // the README blocks compile here too (one program): the two tests' time

    it.effect("the README blocks type-check against the installed packages", () =>
      Effect.gen(function*() {
        const { ran, found } = yield* (yield* OutsideProject).checked
        assert.strictEqual(ran.code, 0, toReadmeLines(ran.stdout + ran.stderr, found))
      }), 300_000)

    it.effect("runs on plain node: two agents on SQLite, a checkpoint, a dead process, a resume that replays, exact totals; the installed viewer (ui and serve) in Chromium", () =>
      Effect.gen(function*() {
        const project = yield* OutsideProject
        const main = yield* compiled(project)
        const db = path.join(project.dir, "runs.db")

        const first = yield* node(project, [main, "start", db])
        assert.strictEqual(first.code, 3, `the first process dies after its checkpoint\n${first.stdout}\n${first.stderr}`)
        const runId = /^RUN (\S+)$/m.exec(first.stdout)?.[1]
        assert.isString(runId, first.stdout)

        const second = yield* node(project, [main, "resume", db, runId!])
        expectOk(second, "the resume")
        assert.include(second.stdout, `RUN ${runId}`)
        assert.include(second.stdout, "totals: 2 steps, 300 tokens, $0.75")
        const report = JSON.parse(second.stdout.trim().split("\n").at(-1)!)
        assert.deepStrictEqual(report, {
          status: "completed",
          stepCount: 2,
          tokensUsed: 300,
          costUsd: 0.75,
          // the planner's call came back from the store; only the writer called the model
          replayed: ["ask"],
          executed: ["write: answer(plan the report)"],
          runs: 1,
          text: "answer(write: answer(plan the report))"
        })

        // the README's way to look at a local SQLite file: a key of its project, then the server
        const key = yield* npx(project, ["multirun", "keys", "create", "--db", db, "--project", "default"])
        expectOk(key, "multirun keys create")
        const url = yield* serve(project, ["--db", db])
        const runs = yield* Effect.promise(() =>
          fetch(`${url}/api/runs`, { headers: { authorization: `Bearer ${key.stdout.trim()}` } }).then((r) => r.json())
        )
        assert.deepStrictEqual(
          (runs as Array<{ id: string; status: string; stepCount: number }>).map((r) => [r.id, r.status, r.stepCount]),
          [[runId, "completed", 2]]
        )

        // the installed viewer serves its shipped bundle (no build at run time): `multirun ui`
        // with no key, and `multirun serve` with the key, in Chromium
        const browser = yield* Chromium.scoped()
        const run = { id: runId!, name: "outside" }
        yield* viewRun(browser, yield* ui(project, ["--db", db]), run)
        yield* viewRun(browser, url, run, key.stdout.trim())
        assert.deepStrictEqual(browser.errors, [])
      }).pipe(Effect.scoped), 300_000)

    it.effect("effect 4 is refused at install: npm reports the peer dependency conflict", () =>
      Effect.gen(function*() {
        const { dir, env } = yield* OutsideProject
        const before = fs.readFileSync(path.join(dir, "package.json"), "utf8")
        const attempt = yield* run("npm", ["install", "--dry-run", "--no-audit", "--no-fund", "--prefer-offline", "effect@^4.0.0"], { cwd: dir, env })
        assert.notStrictEqual(attempt.code, 0, attempt.stdout)
        assert.include(attempt.stderr, "ERESOLVE")
        assert.match(attempt.stderr, /peer effect@"\^3\.\d+\.\d+"/)
        assert.strictEqual(fs.readFileSync(path.join(dir, "package.json"), "utf8"), before)
      }), 300_000)

    it.effect("the installed multirun command runs without tsx: --help, --version, keys create", () =>
      Effect.gen(function*() {
        const project = yield* OutsideProject
        const { dir } = project
        assert.isFalse(fs.existsSync(path.join(dir, "node_modules", "tsx")), "tsx is not installed")
        const help = yield* npx(project, ["multirun", "--help"])
        expectOk(help, "multirun --help")
        assert.include(help.stdout, "serve")
        assert.include(help.stdout, "keys")
        const version = yield* npx(project, ["multirun", "--version"])
        expectOk(version, "multirun --version")
        assert.strictEqual(version.stdout.trim(), serverVersion)
        const keys = path.join(dir, "keys.db")
        const created = yield* npx(project, ["multirun", "keys", "create", "--db", keys, "--project", "p"])
        expectOk(created, "multirun keys create")
        assert.match(created.stdout.trim(), /^mr_[A-Za-z0-9_-]{40,}$/)
        assert.isTrue(fs.existsSync(keys))
      }), 300_000)
  })
})
