/** The viewer's entry: the header, the key form when the server asks for one, and the pages. */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import { apiKey, config, setApiKey, setUnauthorizedHandler, type ViewerConfig } from "./api.js"
import { ComparePage } from "./ComparePage.js"
import { focusSearch, useKeys } from "./keys.js"
import { Link, navigate, useLocation } from "./router.js"
import { RunPage } from "./RunPage.js"
import { RunsPage } from "./RunsPage.js"
import { UsagePage } from "./UsagePage.js"
import "./styles.css"
import "./dark.css"

const KeyForm = (props: { message: string; onSaved: () => void }) => {
  const [value, setValue] = useState("")
  const [remember, setRemember] = useState(false)
  return (
    <main class="key-page">
      <form
        id="key-form"
        class="key-form"
        onSubmit={(event) => {
          event.preventDefault()
          setApiKey(value.trim(), remember)
          props.onSaved()
        }}
      >
        <h2>API key</h2>
        <p>This server needs an API key. Create one with <code>multirun keys create --project NAME</code>.</p>
        {props.message && <p class="error" role="alert">{props.message}</p>}
        <input id="key" type="password" autoComplete="off" placeholder="mr_…" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        <label class="remember">
          <input id="remember-key" type="checkbox" checked={remember} onChange={(e) => setRemember((e.target as HTMLInputElement).checked)} />
          {" "}Remember on this browser <span class="muted">(off: this tab only, forgotten when it closes)</span>
        </label>
        <button type="submit">Use key</button>
      </form>
    </main>
  )
}

const App = () => {
  const location = useLocation()
  const [settings, setSettings] = useState<ViewerConfig | undefined>(undefined)
  const [keyMessage, setKeyMessage] = useState<string | undefined>(undefined)
  const [, setEpoch] = useState(0)
  useKeys({ "/": focusSearch })
  useEffect(() => {
    setUnauthorizedHandler((message) => setKeyMessage(message))
    config().then(setSettings, () => setSettings({ mode: "server", source: null }))
  }, [])
  if (settings === undefined) return null
  const needsKey = settings.mode === "server" && (apiKey() === "" || keyMessage !== undefined)
  const run = /^\/runs\/([^/]+)$/.exec(location.path)
  return (
    <>
      <header class="top">
        <Link href="/" class="brand">multirun</Link>
        <span class="muted">{settings.mode === "local" ? `local · read-only · ${settings.source ?? ""}` : "runs"}</span>
        <Link href="/usage" class="nav">Usage</Link>
        {settings.mode === "server" && apiKey() !== "" && (
          <button
            type="button"
            class="linkish forget"
            id="forget-key"
            onClick={() => {
              setApiKey("")
              setKeyMessage("")
            }}
          >
            Forget key
          </button>
        )}
      </header>
      {needsKey
        ? (
          <KeyForm
            message={keyMessage ?? ""}
            onSaved={() => {
              setKeyMessage(undefined)
              setEpoch((n) => n + 1)
              navigate(location.path + (location.query.toString() ? `?${location.query}` : ""), true)
            }}
          />
        )
        : run
        ? <RunPage key={run[1]} runId={decodeURIComponent(run[1]!)} location={location} />
        : location.path === "/compare"
        ? <ComparePage location={location} />
        : location.path === "/usage"
        ? <UsagePage until={location.query.get("until") ?? undefined} />
        : <RunsPage location={location} />}
    </>
  )
}

render(<App />, document.getElementById("app")!)
