import * as Crypto from "node:crypto"
import { SerializationError } from "../Errors.js"
import { maxDepth } from "../Model.js"

/** Thrown (and caught at the boundary) when a value is not canonical JSON. */
class NotJson {
  constructor(readonly path: ReadonlyArray<string | number>, readonly found: string) {}
}

const describe = (value: unknown): string => {
  switch (typeof value) {
    case "undefined":
      return "undefined"
    case "function":
      return "function"
    case "symbol":
      return "symbol"
    case "bigint":
      return "bigint"
    case "number":
      return Number.isNaN(value) ? "NaN" : String(value)
    default: {
      const ctor = (value as object).constructor
      return ctor === undefined ? "object without prototype" : ctor.name === "Date" ? "Date" : `class ${ctor.name}`
    }
  }
}

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
  if (path.length > maxDepth) throw new NotJson(path.slice(0, 8), `a value nested deeper than ${maxDepth} levels`)
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      if (Number.isFinite(value)) return JSON.stringify(value)
      throw new NotJson([...path], describe(value))
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      if (ancestors.includes(value)) throw new NotJson([...path], "cycle")
      ancestors.push(value)
      let out: string
      if (Array.isArray(value)) {
        out = "["
        for (let i = 0; i < value.length; i++) {
          path.push(i)
          out += (i === 0 ? "" : ",") + write(value[i], path, ancestors)
          path.pop()
        }
        out += "]"
      } else {
        const proto = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) throw new NotJson([...path], describe(value))
        const keys = Object.keys(value).sort()
        out = "{"
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i]!
          path.push(key)
          out += (i === 0 ? "" : ",") + JSON.stringify(key) + ":" + write((value as any)[key], path, ancestors)
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
    // what JSON must escape (`"`, `\\`, control characters) and lone surrogates, which it rewrites
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return JSON.stringify(text)
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
        for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + writeFast(value[i], depth + 1)
        return out + "]"
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw notJson
      const keys = Object.keys(value)
      sortKeys(keys)
      let out = "{"
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        out += (i === 0 ? keyText(key) : "," + keyText(key)) + writeFast((value as any)[key], depth + 1)
      }
      return out + "}"
    }
    default:
      throw notJson
  }
}

/**
 * Canonical JSON text of `value`: object keys sorted, and only JSON values allowed. Returns a
 * `SerializationError` (naming the path under `root`) instead of text when the value is not JSON.
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
    if (e instanceof NotJson) return new SerializationError({ path: formatPath(root, e.path), found: e.found })
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
 * The JSON path of the first place where two JSON values differ, or `undefined` when equal.
 * A value of `a` for which `same` holds (a redaction marker) equals anything.
 */
export const firstDifference = (
  a: unknown,
  b: unknown,
  root: string,
  same?: (value: unknown) => boolean
): string | undefined => {
  const path: Array<string | number> = []
  const go = (x: unknown, y: unknown): boolean => {
    if (x === y || same?.(x) === true) return false
    if (typeof x !== "object" || typeof y !== "object" || x === null || y === null) return true
    if (Array.isArray(x) !== Array.isArray(y)) return true
    if (Array.isArray(x) && Array.isArray(y)) {
      for (let i = 0; i < Math.max(x.length, y.length); i++) {
        path.push(i)
        if (go(x[i], y[i])) return true
        path.pop()
      }
      return false
    }
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()
    for (const key of keys) {
      path.push(key)
      if (go((x as any)[key], (y as any)[key])) return true
      path.pop()
    }
    return false
  }
  return go(a, b) ? formatPath(root, path) : undefined
}
