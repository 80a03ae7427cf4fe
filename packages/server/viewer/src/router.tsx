/** Path routing with the History API: `/` (runs), `/runs/:runId` (one run), `/compare?a=&b=` (two runs). */
import type { ComponentChildren } from "preact"
import { useEffect, useState } from "preact/hooks"

/** The current path and query. */
export interface Location {
  readonly path: string
  readonly query: URLSearchParams
}

const current = (): Location => ({ path: location.pathname, query: new URLSearchParams(location.search) })
const changed = "multirun:navigate"

/** Goes to `url` in the page (no reload); `replace` keeps the history length. */
export const navigate = (url: string, replace = false): void => {
  if (replace) history.replaceState(null, "", url)
  else history.pushState(null, "", url)
  window.dispatchEvent(new Event(changed))
}

/** The location, updated on navigation and on back/forward. */
export const useLocation = (): Location => {
  const [loc, setLoc] = useState(current)
  useEffect(() => {
    const update = () => setLoc(current())
    window.addEventListener("popstate", update)
    window.addEventListener(changed, update)
    return () => {
      window.removeEventListener("popstate", update)
      window.removeEventListener(changed, update)
    }
  }, [])
  return loc
}

/** A link that navigates in the page (a modified click opens a new tab as usual). */
export const Link = (props: { href: string; class?: string; title?: string; children: ComponentChildren }) => (
  <a
    href={props.href}
    class={props.class}
    title={props.title}
    onClick={(event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return
      event.preventDefault()
      navigate(props.href)
    }}
  >
    {props.children}
  </a>
)

/** The path of a run's page. */
export const runPath = (runId: string): string => `/runs/${encodeURIComponent(runId)}`

/** The path of the compare of two runs (B − A). */
export const comparePath = (a: string, b: string): string => `/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`
