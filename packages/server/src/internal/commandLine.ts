/**
 * The front of the `multirun` command line, over @effect/cli: short help with examples, argument
 * errors as one or two plain lines (exit code 2), colour only on a terminal and never under
 * `NO_COLOR`. It works from the command tree alone, so a new subcommand gets all of it by being
 * added to the tree and described with {@link withHelp}.
 */
import { CliConfig, Command, HelpDoc, ValidationError } from "@effect/cli"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import type * as Span from "@effect/cli/HelpDoc/Span"
import { Console, Effect } from "effect"

/**
 * A command's description: a one-line summary and one or two examples, each a whole command
 * line (`multirun runs list --status failed`), shown by `--help`.
 */
export const withHelp = (summary: string, examples: readonly [string, ...Array<string>]) =>
  Command.withDescription(HelpDoc.blocks([HelpDoc.p(summary), ...examples.map((example) => HelpDoc.p(`$ ${example}`))]))

/** Whether a stream shows colour: a terminal, and `NO_COLOR` unset or empty. */
export const colourful = (stream: { readonly isTTY?: boolean | undefined }): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""

const style = (on: boolean, code: string) => (text: string) => on ? `\x1b[${code}m${text}\x1b[0m` : text

const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
  }
}

/** The blocks of a help document in order, with the section (`OPTIONS`, …) each is under. */
type Block =
  | { readonly section: string; readonly _tag: "Paragraph"; readonly text: string }
  | {
    readonly section: string
    readonly _tag: "Definitions"
    readonly entries: ReadonlyArray<readonly [string, ReadonlyArray<string>]>
  }

const paragraphs = (doc: HelpDoc.HelpDoc): Array<string> => {
  switch (doc._tag) {
    case "Paragraph":
      return [spanText(doc.value)]
    case "Sequence":
      return [...paragraphs(doc.left), ...paragraphs(doc.right)]
    case "Enumeration":
      return doc.elements.flatMap(paragraphs)
    default:
      return []
  }
}

const blocksOf = (doc: HelpDoc.HelpDoc): Array<Block> => {
  const found: Array<Block> = []
  let section = ""
  const walk = (doc: HelpDoc.HelpDoc): void => {
    switch (doc._tag) {
      case "Header":
        section = spanText(doc.value)
        return
      case "Paragraph":
        found.push({ section, _tag: "Paragraph", text: spanText(doc.value) })
        return
      case "DescriptionList":
        found.push({
          section,
          _tag: "Definitions",
          entries: doc.definitions.map(([span, block]) => [spanText(span), paragraphs(block)] as const)
        })
        return
      case "Sequence":
        walk(doc.left)
        walk(doc.right)
        return
      case "Enumeration":
        doc.elements.forEach(walk)
        return
    }
  }
  walk(doc)
  return found
}

/**
 * One node of the command tree, from @effect/cli's descriptor: a command (its own help) and the
 * subcommands it has, in order. @effect/cli has no public way to walk nested subcommands, so
 * this reads the descriptor's three shapes (`Standard`, `Map`, `Subcommands`) and nothing else.
 */
interface Node {
  readonly name: string
  readonly self: Descriptor.Command<unknown>
  readonly children: ReadonlyArray<Node>
}

type Shape =
  | { readonly _tag: "Standard" | "GetUserInput"; readonly name: string }
  | { readonly _tag: "Map"; readonly command: Shape }
  | { readonly _tag: "Subcommands"; readonly parent: Shape; readonly children: ReadonlyArray<Shape> }

const nodeOf = (shape: Shape): Node => {
  switch (shape._tag) {
    case "Map":
      return nodeOf(shape.command)
    case "Subcommands": {
      const parent = nodeOf(shape.parent)
      return { ...parent, children: [...parent.children, ...shape.children.map(nodeOf)] }
    }
    default:
      return { name: shape.name, self: shape as unknown as Descriptor.Command<unknown>, children: [] }
  }
}

const helpConfig = CliConfig.make({ showBuiltIns: false })

const summaryOf = (blocks: ReadonlyArray<Block>): string =>
  blocks.find((b): b is Block & { _tag: "Paragraph" } =>
    b._tag === "Paragraph" && b.section === "DESCRIPTION" && !b.text.startsWith("$ ")
  )?.text ?? ""

/** `--limit integer` and its description, with @effect/cli's boilerplate left out. */
const optionLine = ([usage, lines]: readonly [string, ReadonlyArray<string>]): readonly [string, string] => {
  // the first paragraph names the value's type ("An integer."), already shown in `usage`
  const [, ...rest] = lines
  const repeated = rest.some((line) => line.startsWith("This option may be repeated"))
  const text = rest.filter((line) => !line.startsWith("This setting is optional") && !line.startsWith("This option may"))
    .join(" ")
  return [usage.replace(/\.\.\.$/, ""), repeated ? `${text} (repeatable)` : text]
}

/** Two columns; a left cell wider than 24 characters puts its right cell on the next line. */
const columns = (rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  const width = Math.min(24, Math.max(...rows.map(([left]) => left.length)))
  return rows.map(([left, right]) =>
    left.length > width
      ? `  ${left}\n  ${"".padEnd(width)}  ${right}`.trimEnd()
      : `  ${left.padEnd(width)}  ${right}`.trimEnd()
  )
}

/** The help of the command at `path` under `root`: usage, summary, commands or options, examples. */
const helpText = (root: Node, path: ReadonlyArray<string>, bold: (text: string) => string): string => {
  const node = path.reduce((n, name) => n.children.find((c) => c.name === name)!, root)
  const blocks = blocksOf(Descriptor.getHelp(node.self, helpConfig))
  const command = [root.name, ...path].join(" ")
  const args = blocks.flatMap((b) => b._tag === "Definitions" && b.section === "ARGUMENTS" ? b.entries.map(([a]) => a) : [])
  const options = blocks.flatMap((b) => b._tag === "Definitions" && b.section === "OPTIONS" ? b.entries : [])
  const examples = blocks.flatMap((b) =>
    b._tag === "Paragraph" && b.section === "DESCRIPTION" && b.text.startsWith("$ ") ? [b.text.slice(2)] : []
  )
  const usage = [
    command,
    node.children.length > 0 ? "<command>" : "",
    options.length > 0 ? "[options]" : "",
    ...args
  ].filter((part) => part !== "").join(" ")
  const sections = [
    [`${bold("Usage:")} ${usage}`],
    [summaryOf(blocks)],
    node.children.length === 0 ? [] : [
      bold("Commands:"),
      ...columns(node.children.map((child) => [child.name, summaryOf(blocksOf(Descriptor.getHelp(child.self, helpConfig)))]))
    ],
    options.length === 0 ? [] : [bold("Options:"), ...columns(options.map(optionLine))],
    examples.length === 0 ? [] : [bold("Examples:"), ...examples.map((example) => `  ${example}`)],
    node.children.length === 0 ? [] : [`Run "${command} <command> --help" for a command's options.`]
  ]
  return sections.filter((lines) => lines.length > 0 && lines.join("") !== "").map((lines) => lines.join("\n")).join("\n\n")
}

/** The longest run of leading arguments that names a command of the tree, and that command. */
const commandPath = (root: Node, args: ReadonlyArray<string>) => {
  const path: Array<string> = []
  let node = root
  for (const arg of args) {
    const child = node.children.find((c) => c.name === arg)
    if (child === undefined) break
    path.push(arg)
    node = child
  }
  return { path, node }
}

/** An argument error of @effect/cli as one line: its text, a `'value'` named by its option. */
const errorLine = (error: ValidationError.ValidationError, args: ReadonlyArray<string>): string => {
  const text = paragraphs(error.error).join(" ").replace(/\s+/g, " ").trim()
    .replace(/ a integer/, " an integer")
    .replace(/^Received unknown argument: /, "unknown argument ")
    .replace(/^Expected to find option: '(.*)'$/, "missing option $1")
    .replace(/^Missing argument (.*)$/, "missing argument $1")
  const value = /^'([^']*)'/.exec(text)?.[1]
  const at = value === undefined ? -1 : args.indexOf(value)
  const option = at > 0 && args[at - 1]!.startsWith("-") ? args[at - 1] : undefined
  return option === undefined ? lowerFirst(text) : `${option}: ${text}`
}

/** `multirun runs list: PROBLEM` and where the usage is, on stderr; exit code 2. */
const usageError = (command: string, problem: string) =>
  Effect.zipRight(
    Console.error(`${style(colourful(process.stderr), "31")(`${command}:`)} ${problem}\nRun "${command} --help" for usage.`),
    Effect.sync(() => void (process.exitCode = 2))
  )

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

/**
 * Runs `command` on `argv` (`process.argv`): `--help` or `-h` prints the help of the command
 * named before it, a missing subcommand prints its command's help (exit code 2), an argument
 * error prints `NAME COMMAND: error` and where to find the usage (exit code 2); anything else
 * runs the command through @effect/cli.
 */
export const runCommand = <Name extends string, R, E, A>(
  command: Command.Command<Name, R, E, A>,
  config: { readonly name: string; readonly version: string }
) => {
  const root = nodeOf(command.descriptor as unknown as Shape)
  const run = Command.run(command, config)
  return (argv: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const args = argv.slice(2)
      const beforeDashes = args.indexOf("--") === -1 ? args : args.slice(0, args.indexOf("--"))
      const { node, path } = commandPath(root, beforeDashes)
      const bold = style(colourful(process.stdout), "1")
      if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
        return yield* Console.log(helpText(root, path, bold))
      }
      if (node.children.length > 0 && beforeDashes.length === path.length && !args.includes("--version")) {
        yield* Console.error(helpText(root, path, style(colourful(process.stderr), "1")))
        return yield* Effect.sync(() => void (process.exitCode = 2))
      }
      const next = beforeDashes[path.length]
      if (node.children.length > 0 && next !== undefined && !next.startsWith("-")) {
        const names = node.children.map((child) => child.name).join(", ")
        return yield* usageError([root.name, ...path].join(" "), `unknown command '${next}' (commands: ${names})`)
      }
      const parsed = yield* Effect.either(Descriptor.parse(command.descriptor, [root.name, ...args], CliConfig.defaultConfig))
      const problem = parsed._tag === "Left"
        ? errorLine(parsed.left, args)
        : parsed.right._tag === "UserDefined" && parsed.right.leftover.length > 0
        ? `unknown argument '${parsed.right.leftover[0]}'`
        : undefined
      if (problem !== undefined) return yield* usageError([root.name, ...path].join(" "), problem)
      return yield* run(argv)
    })
}
