/**
 * Keyboard shortcuts: `/` focuses the page's search box, and pages add their own keys (`j`/`k`
 * and `Esc` on a run). Keys typed into a field, or with Ctrl, Alt or Meta, are left alone.
 */
import { useEffect, useRef } from "preact/hooks"

/** The boxes `/` focuses, the first one on the page: the runs search, a step filter. */
const searchBoxes = "#search, #step-filter"

/** Whether the key goes to a field the user is typing in. */
const typing = (target: EventTarget | null): boolean => {
  const element = target as HTMLElement | null
  return element !== null &&
    (element.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName))
}

/**
 * Calls `handlers[event.key]` for keys pressed outside fields (the latest handlers: they may
 * close over the page's state); a handled key does nothing else.
 */
export const useKeys = (handlers: Readonly<Record<string, () => void>>): void => {
  const latest = useRef(handlers)
  latest.current = handlers
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return
      const handler = latest.current[event.key]
      if (handler === undefined) return
      event.preventDefault()
      handler()
    }
    window.addEventListener("keydown", onKey)
    return () => window.removeEventListener("keydown", onKey)
  }, [])
}

/** `/` focuses the page's search box, when it has one. */
export const focusSearch = (): void => {
  const box = document.querySelector<HTMLInputElement>(searchBoxes)
  if (box === null) return
  box.focus()
  box.select()
}
