/**
 * What no backend can store, checked where values enter: text holding U+0000 or a lone
 * surrogate, ids a backend cannot store and serve back, and sizes in UTF-8 bytes.
 */
import { Buffer } from "node:buffer"
import { SerializationError } from "../Errors.js"

/**
 * The longest id a backend stores: an id is refused where it enters when it is longer, empty,
 * `.` or `..` (a URL path cannot name those) or holds a character that is not printable.
 */
export const maxIdLength = 256

/** Characters of an id that are not printable: controls, format characters, line and paragraph separators. */
const nonPrintable = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

/** A character as `U+XXXX`. */
const codePoint = (code: number): string => `U+${code.toString(16).toUpperCase().padStart(4, "0")}`

/**
 * What in `text` no backend can store, or `undefined` when it can be stored: U+0000 (PostgreSQL
 * refuses it in text) and lone surrogates (UTF-8 cannot encode them; drivers replace them).
 */
export const unstorableText = (text: string): string | undefined => {
  const nul = text.indexOf("\0")
  if (nul !== -1) return `U+0000 at character ${nul}`
  if ((text as unknown as { isWellFormed(): boolean }).isWellFormed()) return undefined
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0xd800 || code > 0xdfff) continue
    const next = text.charCodeAt(i + 1)
    if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
    else return `a lone surrogate ${codePoint(code)} at character ${i}`
  }
  return undefined
}

/** Whether `text` is printable ASCII only, as most ids are: the checks below need not look further. */
const printableAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || code > 0x7e) return false
  }
  return true
}

/** What makes `id` unusable as an id (see {@link maxIdLength}), or `undefined` when it is usable. */
const unusableId = (id: string): string | undefined => {
  if (id.length === 0) return "an empty id"
  if (id.length > maxIdLength) return `an id of ${id.length} characters (ids have at most ${maxIdLength})`
  if (id === "." || id === "..") return `the id "${id}", which a URL path cannot name`
  if (printableAscii(id)) return undefined
  const text = unstorableText(id)
  if (text !== undefined) return text
  const control = nonPrintable.exec(id)
  return control === null
    ? undefined
    : `a character that is not printable (${codePoint(control[0].codePointAt(0)!)}) at character ${control.index}`
}

/** What to do about a value no backend can store. */
const unstorableDetail = "no backend can store it (PostgreSQL refuses U+0000 in text, UTF-8 cannot encode a lone " +
  "surrogate); remove the character, or encode binary data (base64) before passing it"

/** The error of a value no backend can store at `path`. */
export const unstorable = (path: string, found: string): SerializationError =>
  new SerializationError({ path, found, reason: "Unstorable", detail: unstorableDetail })

/**
 * A `SerializationError("Unstorable")` naming `path` when `text` (a name, a key) holds what no
 * backend can store (see {@link unstorableText}); `undefined` when it can be stored.
 */
export const checkText = (text: string, path: string): SerializationError | undefined => {
  const found = unstorableText(text)
  return found === undefined ? undefined : unstorable(path, found)
}

/**
 * A `SerializationError("Unstorable")` naming `path` when `id` is not an id a backend can store
 * and serve back (see {@link maxIdLength}); `undefined` when it is one.
 */
export const checkId = (id: string, path: string): SerializationError | undefined => {
  const found = unusableId(id)
  return found === undefined
    ? undefined
    : new SerializationError({
      path,
      found,
      reason: "Unstorable",
      detail: `ids have 1 to ${maxIdLength} printable characters; check the id generator (the \`Ids\` service)`
    })
}

/**
 * The size of `text` in UTF-8 bytes when it is over `limit` bytes, or `undefined` when it is
 * within: every limit counts the bytes a backend stores (a "€" is 3 of them), not characters.
 * Counted only when it may be over (a UTF-16 code unit is 1 to 3 bytes).
 */
export const bytesOver = (text: string, limit: number): number | undefined => {
  if (text.length * 3 <= limit) return undefined
  const bytes = Buffer.byteLength(text, "utf8")
  return bytes > limit ? bytes : undefined
}
