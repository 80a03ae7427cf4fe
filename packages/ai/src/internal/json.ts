/**
 * Encoded @effect/ai values are JSON-shaped but may hold `undefined` fields (an absent optional),
 * bytes or URLs. Steps store canonical JSON, which refuses those, so values are made plain first:
 * `undefined` fields are dropped (an absent optional decodes the same), `undefined` in arrays
 * becomes `null`, bytes become base64, URLs and dates their strings, non-finite numbers `null`.
 */

const plainValue = (value: unknown, seen: Array<object>): unknown => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return Number.isFinite(value) ? value : null
    case "bigint":
      return value.toString()
    case "object": {
      if (value === null) return null
      if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
      if (value instanceof URL) return value.href
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
      if (seen.includes(value)) return null
      seen.push(value)
      let out: unknown
      if (Array.isArray(value)) {
        out = value.map((item) => {
          const plain = plainValue(item, seen)
          return plain === undefined ? null : plain
        })
      } else {
        const record: Record<string, unknown> = {}
        for (const key of Object.keys(value)) {
          const plain = plainValue((value as Record<string, unknown>)[key], seen)
          if (plain !== undefined) record[key] = plain
        }
        out = record
      }
      seen.pop()
      return out
    }
    default:
      return undefined
  }
}

/** The value as plain JSON data (see the module comment). */
export const plain = <A>(value: A): A => plainValue(value, []) as A
