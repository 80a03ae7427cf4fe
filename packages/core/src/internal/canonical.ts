import * as Crypto from "node:crypto"
import {
  BigDecimal,
  Chunk,
  Data,
  DateTime,
  Duration,
  Either,
  HashMap,
  HashSet,
  List,
  Option,
  Redacted,
  Schema
} from "effect"
import { SerializationError } from "../Errors.js"
import { maxDepth } from "../Model.js"
import { unstorable, unstorableText } from "./storable.js"

/**
 * What a value that is not JSON was, and the schema that encodes it when one does; `unstorable`
 * when it is JSON that no backend can store (text holding U+0000 or a lone surrogate).
 */
interface NotJsonKind {
  readonly found: string
  readonly schema?: string | undefined
  readonly unstorable?: boolean
}

/** Thrown (and caught at the boundary) when a value is not canonical JSON. */
class NotJson {
  constructor(readonly path: ReadonlyArray<string | number>, readonly kind: NotJsonKind) {}
}

/** Effect's data types: how each is named in errors and the schema that encodes it. */
const effectTypes: ReadonlyArray<readonly [string, (value: unknown) => boolean, string | undefined]> = [
  ["Chunk", Chunk.isChunk, "`Schema.Chunk(itemSchema)`"],
  ["HashMap", HashMap.isHashMap, "`Schema.HashMap({ key: keySchema, value: valueSchema })`"],
  ["HashSet", HashSet.isHashSet, "`Schema.HashSet(itemSchema)`"],
  ["List", List.isList, "`Schema.List(itemSchema)`"],
  ["Option", Option.isOption, "`Schema.Option(valueSchema)`"],
  ["Either", Either.isEither, "`Schema.Either({ left: leftSchema, right: rightSchema })`"],
  ["DateTime", DateTime.isDateTime, "`Schema.DateTimeUtc`"],
  ["Duration", Duration.isDuration, "`Schema.Duration`"],
  ["BigDecimal", BigDecimal.isBigDecimal, "`Schema.BigDecimal`"],
  // a secret: no schema is suggested, so that none is stored by accident
  ["Redacted", Redacted.isRedacted, undefined]
]

/** Names a value that is not JSON; for an object, its type and the schema that encodes it. */
const describe = (value: unknown): NotJsonKind => {
  switch (typeof value) {
    case "undefined":
    case "function":
    case "symbol":
      return { found: typeof value }
    case "bigint":
      return { found: "bigint", schema: "`Schema.BigInt`" }
    case "number":
      return { found: Number.isNaN(value) ? "NaN" : String(value) }
    default: {
      if (value instanceof Date) return { found: "Date", schema: "`Schema.Date`" }
      for (const [name, is, schema] of effectTypes) if (is(value)) return { found: name, schema }
      const ctor: unknown = (value as object).constructor
      if (typeof ctor !== "function") return { found: "object without prototype" }
      const name = ctor.name
      if (Schema.isSchema(ctor)) return { found: `class ${name}`, schema: `\`${name}\` itself (it is a Schema class)` }
      if (value instanceof Map) {
        return { found: `class ${name}`, schema: "`Schema.ReadonlyMap({ key: keySchema, value: valueSchema })`" }
      }
      if (value instanceof Set) return { found: `class ${name}`, schema: "`Schema.ReadonlySet(itemSchema)`" }
      if (value instanceof Data.Class) {
        // `Data.Class`, `Data.TaggedClass` and `Data.struct` values
        return {
          found: name === "Object" ? "Data value" : `Data class ${name}`,
          schema: "a `Schema.Class` with the same fields (or `Schema.Data(Schema.Struct({ ... }))`)"
        }
      }
      return { found: `class ${name}` }
    }
  }
}

/** Where a schema goes for a value under `root`: a step's options, a typed state key, or an encoding by hand. */
const schemaPlace = (root: string): string =>
  root === "input"
    ? "the step's `inputSchema`"
    : root === "output"
    ? "the step's `output` schema"
    : root.includes(".state.")
    ? "the schema of a typed key (`StateKey.make(key, schema)`)"
    : "a schema, encoding the value with `Schema.encodeSync(schema)` before passing it"

/** Renders a path as `root.key[0].other`. */
export const formatPath = (root: string, path: ReadonlyArray<string | number>): string => {
  let out = root
  for (const segment of path) {
    out += typeof segment === "number"
      ? `[${segment}]`
      : /^[A-Za-z_$][\w$]*$/.test(segment)
      ? `.${segment}`
      : `[${JSON.stringify(segment)}]`
  }
  return out
}


const write = (value: unknown, path: Array<string | number>, ancestors: Array<object>): string => {
  if (path.length > maxDepth) throw new NotJson(path.slice(0, 8), { found: `a value nested deeper than ${maxDepth} levels` })
  switch (typeof value) {
    case "string": {
      const found = unstorableText(value)
      if (found !== undefined) throw new NotJson([...path], { found, unstorable: true })
      return JSON.stringify(value)
    }
    case "number":
      if (Number.isFinite(value)) return JSON.stringify(value)
      throw new NotJson([...path], describe(value))
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      if (ancestors.includes(value)) throw new NotJson([...path], { found: "cycle" })
      ancestors.push(value)
      let out: string
      if (Array.isArray(value)) {
        out = "["
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          path.push(i)
          // as `JSON.stringify`: an undefined element (or a hole) is `null`
          out += (i === 0 ? "" : ",") + (item === undefined ? "null" : write(item, path, ancestors))
          path.pop()
        }
        out += "]"
      } else {
        const proto = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) throw new NotJson([...path], describe(value))
        const keys = Object.keys(value).sort()
        out = "{"
        for (const key of keys) {
          const item: unknown = (value as any)[key]
          // as `JSON.stringify` and Schema's optional fields: an undefined property is left out
          if (item === undefined) continue
          path.push(key)
          const found = unstorableText(key)
          if (found !== undefined) throw new NotJson([...path], { found: `${found} of the key`, unstorable: true })
          out += (out.length === 1 ? "" : ",") + JSON.stringify(key) + ":" + write(item, path, ancestors)
          path.pop()
        }
        out += "}"
      }
      ancestors.pop()
      return out
    }
    default:
      throw new NotJson([...path], describe(value))
  }
}

/** Thrown by the fast writer; the careful writer then finds the path. */
const notJson = Symbol("notJson")

/** Depth past which a value is treated as possibly cyclic and handed to the careful writer. */
const maxFastDepth = 64

/** A string as JSON: a scan of its characters (cheaper than a regular expression on short text). */
const quote = (text: string): string => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    // what JSON must escape (`"`, `\\`, control characters) and lone surrogates, which it rewrites;
    // U+0000 and lone surrogates no backend stores: the careful writer names their path
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) {
      if (unstorableText(text) !== undefined) throw notJson
      return JSON.stringify(text)
    }
  }
  return `"${text}"`
}

/** The texts `"key":` of the keys seen so far, up to a bound: most values reuse a few keys. */
const keyTexts = new Map<string, string>()
const maxKeyTexts = 4096

/** A key as JSON followed by `:`. */
const keyText = (key: string): string => {
  let text = keyTexts.get(key)
  if (text === undefined) {
    text = quote(key) + ":"
    if (keyTexts.size < maxKeyTexts) keyTexts.set(key, text)
  }
  return text
}

/** Sorts keys in place as `Array.prototype.sort` does (by UTF-16 code units); by insertion when few. */
const sortKeys = (keys: Array<string>): void => {
  if (keys.length > 8) {
    keys.sort()
    return
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!
    let j = i - 1
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!
      j--
    }
    keys[j + 1] = key
  }
}

/** The writer of the hot path: no path or ancestor bookkeeping. */
const writeFast = (value: unknown, depth: number): string => {
  switch (typeof value) {
    case "string":
      return quote(value)
    case "number":
      if (Number.isFinite(value)) return String(value)
      throw notJson
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      if (depth > maxFastDepth) throw notJson
      if (Array.isArray(value)) {
        let out = "["
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          out += (i === 0 ? "" : ",") + (item === undefined ? "null" : writeFast(item, depth + 1))
        }
        return out + "]"
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw notJson
      const keys = Object.keys(value)
      sortKeys(keys)
      let out = "{"
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        const item: unknown = (value as any)[key]
        if (item === undefined) continue
        out += (out.length === 1 ? keyText(key) : "," + keyText(key)) + writeFast(item, depth + 1)
      }
      return out + "}"
    }
    default:
      throw notJson
  }
}

/**
 * Canonical JSON text of `value`: object keys sorted, and only JSON values allowed, with the
 * semantics of `JSON.stringify` for `undefined`: an object property whose value is `undefined` is
 * left out, an `undefined` array element is `null`. Returns a `SerializationError` (naming the
 * path under `root`, what was found there and, for Effect data types and Schema classes, the
 * schema that encodes it) instead of text when the value is not JSON; `undefined` itself is not.
 * Text (a string or a key) holding U+0000 or a lone surrogate is refused the same way
 * (`reason: "Unstorable"`): no backend can store it.
 */
export const canonicalJson = (value: unknown, root: string): string | SerializationError => {
  try {
    const text = writeFast(value, 0)
    // the text is built by concatenation, a tree of string pieces; reading a character makes V8
    // flatten it into one string. Texts are kept (in records, batches, stores), and a flat one is
    // about a third of the memory the tree holds and a single object for the collector to move
    text.charCodeAt(0)
    return text
  } catch (e) {
    if (e !== notJson && !(e instanceof RangeError)) throw e
  }
  try {
    return write(value, [], [])
  } catch (e) {
    if (e instanceof NotJson) {
      const { found, schema } = e.kind
      if (e.kind.unstorable === true) return unstorable(formatPath(root, e.path), found)
      return new SerializationError({
        path: formatPath(root, e.path),
        found,
        ...(schema === undefined ? {} : { detail: `encode it with ${schema} as ${schemaPlace(root)}` })
      })
    }
    throw e
  }
}

const hasHash = typeof (Crypto as { hash?: unknown }).hash === "function"

/** SHA-256 of a string, hex encoded. */
export const sha256 = (text: string): string =>
  hasHash
    ? (Crypto as unknown as { hash: (algorithm: string, data: string) => string }).hash("sha256", text)
    : Crypto.createHash("sha256").update(text).digest("hex")

/**
 * The JSON paths of the places where two JSON values differ, in key order, at most `limit` of
 * them (an empty array when equal). A value of `a` for which `same` holds (a redaction marker)
 * equals anything.
 */
export const differences = (
  a: unknown,
  b: unknown,
  root: string,
  limit: number,
  same?: (value: unknown) => boolean
): Array<string> => {
  const found: Array<string> = []
  const path: Array<string | number> = []
  const go = (x: unknown, y: unknown): void => {
    if (found.length >= limit || x === y || same?.(x) === true) return
    if (
      typeof x !== "object" || typeof y !== "object" || x === null || y === null || Array.isArray(x) !== Array.isArray(y)
    ) {
      found.push(formatPath(root, path))
      return
    }
    const keys: ReadonlyArray<string | number> = Array.isArray(x) && Array.isArray(y)
      ? Array.from({ length: Math.max(x.length, y.length) }, (_, i) => i)
      : [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()
    for (const key of keys) {
      path.push(key)
      go((x as any)[key], (y as any)[key])
      path.pop()
    }
  }
  go(a, b)
  return found
}

/**
 * The JSON path of the first place where two JSON values differ, or `undefined` when equal.
 * A value of `a` for which `same` holds (a redaction marker) equals anything.
 */
export const firstDifference = (
  a: unknown,
  b: unknown,
  root: string,
  same?: (value: unknown) => boolean
): string | undefined => differences(a, b, root, 1, same)[0]
