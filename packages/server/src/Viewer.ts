/**
 * The run viewer: one self-contained HTML page at `/` (inline script and style, nothing loaded
 * from elsewhere). It asks for an API key, keeps it in the browser's `localStorage`, lists the
 * project's runs and shows a run as a tree: agents, then their steps with tokens, cost, latency
 * and replayed marks.
 *
 * @since 0.1.0
 */
import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect, type Layer } from "effect"

const script = String.raw`
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmtCost = (n) => "$" + Number(n || 0).toFixed(4);
const fmtMs = (n) => n >= 1000 ? (n / 1000).toFixed(2) + " s" : Math.round(n || 0) + " ms";
const fmtTime = (ms) => ms ? new Date(ms).toLocaleString() : "";
const key = () => localStorage.getItem("multirun.apiKey") || "";

async function api(path) {
  const res = await fetch("/api" + path, { headers: { authorization: "Bearer " + key() } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(res.status + ": " + (body.message || res.statusText));
  return body;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

async function loadRuns() {
  showError("");
  $("runs").innerHTML = "";
  $("tree").innerHTML = "";
  if (!key()) { $("keyform").hidden = false; return; }
  try {
    const params = new URLSearchParams();
    if ($("status").value) params.set("status", $("status").value);
    const runs = await api("/runs?" + params);
    $("runs").innerHTML = runs.length === 0 ? "<tr><td colspan=7>No runs yet.</td></tr>" : runs.map((r) =>
      "<tr class=run data-id='" + esc(r.id) + "'><td>" + esc(r.name) + "</td><td class='st " + esc(r.status) + "'>" + esc(r.status) +
      "</td><td>" + esc(fmtTime(r.startedAt)) + "</td><td class=n>" + r.stepCount + "</td><td class=n>" + r.tokensUsed +
      "</td><td class=n>" + fmtCost(r.costUsd) + "</td><td class=n>" + fmtMs(r.latencyMs) + "</td></tr>").join("");
    for (const row of document.querySelectorAll("tr.run")) row.onclick = () => loadRun(row.dataset.id);
  } catch (error) { showError(error); }
}

async function loadRun(runId) {
  showError("");
  try {
    const [run, agents, steps] = await Promise.all([api("/runs/" + encodeURIComponent(runId)), api("/runs/" + encodeURIComponent(runId) + "/agents"), api("/runs/" + encodeURIComponent(runId) + "/steps")]);
    const byAgent = new Map(agents.map((a) => [a.id, []]));
    for (const s of steps) (byAgent.get(s.agentId) || byAgent.set(s.agentId, []).get(s.agentId)).push(s);
    const stepRow = (s) => "<li class='step " + esc(s.status) + "'><span class=name>#" + s.seq + " " + esc(s.name) + "</span> <span class=kind>" + esc(s.kind) + "</span>" +
      (s.replayed ? " <span class=replayed title='returned the recorded result'>replayed</span>" : "") +
      " <span class=meta>" + s.tokensUsed + " tok · " + fmtCost(s.costUsd) + " · " + fmtMs(s.latencyMs) + "</span>" +
      (s.error ? " <span class=err>" + esc(s.error.message) + "</span>" : "") +
      "<details><summary>input / output</summary><pre>" + esc(s.input) + "</pre><pre>" + esc(s.output) + "</pre></details></li>";
    const agentBlock = (a) => "<li class=agent><b>" + esc(a.name) + "</b>" + (a.isDefault ? " <i>(default)</i>" : "") +
      " <span class='st " + esc(a.status) + "'>" + esc(a.status) + "</span> <span class=meta>" + a.stepCount + " steps · " + a.tokensUsed + " tok · " + fmtCost(a.costUsd) + " · " + fmtMs(a.latencyMs) + "</span>" +
      "<ul>" + (byAgent.get(a.id) || []).map(stepRow).join("") + "</ul></li>";
    $("tree").innerHTML = "<h2>" + esc(run.name) + " <span class='st " + esc(run.status) + "'>" + esc(run.status) + "</span></h2>" +
      "<p class=meta>" + esc(run.id) + " · " + run.stepCount + " steps · " + run.tokensUsed + " tok · " + fmtCost(run.costUsd) +
      (run.tags.length ? " · tags: " + run.tags.map(esc).join(", ") : "") + (run.error ? " · <span class=err>" + esc(run.error.message) + "</span>" : "") + "</p>" +
      "<ul class=tree>" + agents.map(agentBlock).join("") + "</ul>";
  } catch (error) { showError(error); }
}

$("save").onclick = () => { localStorage.setItem("multirun.apiKey", $("key").value.trim()); $("keyform").hidden = true; loadRuns(); };
$("forget").onclick = () => { localStorage.removeItem("multirun.apiKey"); $("keyform").hidden = false; loadRuns(); };
$("refresh").onclick = loadRuns;
$("status").onchange = loadRuns;
$("keyform").hidden = Boolean(key());
loadRuns();
`

/**
 * The page.
 *
 * @since 0.1.0
 */
export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>multirun</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.run { cursor: pointer; } tr.run:hover { background: #f5f7ff; }
.st.completed { color: #187a2f; } .st.failed { color: #b00020; } .st.running { color: #1f5fbf; } .st.interrupted { color: #a05a00; }
.meta { color: #666; } .err { color: #b00020; } .kind { color: #555; font-size: 12px; }
.replayed { background: #fff3c4; border-radius: 3px; padding: 0 .3rem; font-size: 12px; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.2rem; } li.agent { margin: .6rem 0; } li.step { margin: .2rem 0; }
pre { background: #f6f6f6; padding: .4rem; overflow-x: auto; margin: .2rem 0; }
#error { color: #b00020; }
</style>
</head>
<body>
<h1>multirun runs</h1>
<div id="keyform"><label>API key <input id="key" type="password" size="50" autocomplete="off"></label> <button id="save">Use key</button></div>
<p><button id="refresh">Refresh</button> <select id="status"><option value="">all</option><option>running</option><option>completed</option><option>failed</option><option>interrupted</option></select> <button id="forget">Forget key</button></p>
<p id="error"></p>
<table><thead><tr><th>run</th><th>status</th><th>started</th><th>steps</th><th>tokens</th><th>cost</th><th>latency</th></tr></thead><tbody id="runs"></tbody></table>
<div id="tree"></div>
<script>${script}</script>
</body>
</html>`

/**
 * Serves the page at `/`.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = HttpApiBuilder.Router.use((router) =>
  router.get("/", Effect.succeed(HttpServerResponse.html(html)))
)
