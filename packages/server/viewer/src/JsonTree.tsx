/** Pretty-printed, collapsible JSON: objects and arrays fold; the first levels start open. */
import type { ComponentChildren } from "preact"

const maxItems = 200

const Primitive = (props: { value: unknown }) => {
  const v = props.value
  if (v === null) return <span class="j-null">null</span>
  if (typeof v === "string") return <span class="j-str">{JSON.stringify(v)}</span>
  if (typeof v === "number") return <span class="j-num">{String(v)}</span>
  if (typeof v === "boolean") return <span class="j-bool">{String(v)}</span>
  return <span class="j-null">{String(v)}</span>
}

const Node = (props: { name?: ComponentChildren; value: unknown; depth: number }) => {
  const { value, depth } = props
  const label = props.name === undefined ? null : <span class="j-key">{props.name}: </span>
  if (value === null || typeof value !== "object") {
    return <div class="j-line">{label}<Primitive value={value} /></div>
  }
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>)
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"]
  if (entries.length === 0) return <div class="j-line">{label}{open}{close}</div>
  return (
    <details class="j-node" open={depth < 2}>
      <summary>
        {label}
        {open}
        <span class="j-count">{entries.length} {Array.isArray(value) ? "items" : "keys"}</span>
        {close}
      </summary>
      <div class="j-children">
        {entries.slice(0, maxItems).map(([k, v]) => <Node key={k} name={k} value={v} depth={depth + 1} />)}
        {entries.length > maxItems && <div class="j-more">… {entries.length - maxItems} more</div>}
      </div>
    </details>
  )
}

/** A JSON value as a tree. */
export const JsonTree = (props: { value: unknown }) => (
  <div class="json">
    <Node value={props.value} depth={0} />
  </div>
)

/** JSON text as a tree (the text itself when it does not parse). */
export const JsonText = (props: { text: string | null }) => {
  if (props.text === null) return <div class="json j-null">none</div>
  try {
    return <JsonTree value={JSON.parse(props.text)} />
  } catch {
    return <pre class="json">{props.text}</pre>
  }
}
