/**
 * The dashboard's page, style and script: plain HTML and a small script, no build step. The
 * script builds every table with `textContent` (never HTML from data), reads state from
 * `/api/state`, follows decisions over SSE (`/api/events`) and posts commands with the
 * session's CSRF token.
 * @module
 */

/** The login page; `error` is shown above the form (fixed texts only). */
export function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>siglatch — log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/app.css"></head>
<body class="login"><main>
<h1>siglatch</h1>
${error ? `<p class="error" id="login-error">${error}</p>` : ""}
<form method="post" action="/login">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit" id="login">Log in</button>
</form>
<p class="hint">The token is in the file <code>admin.token_file</code> names.</p>
</main><script src="/login.js"></script></body></html>`;
}

/** Fills and sends the login form from a `#token=` link (what `deno task start` prints). */
export const LOGIN_JS = `"use strict";
const m = /^#token=([A-Za-z0-9_-]+)$/.exec(location.hash);
if (m && !document.getElementById("login-error")) {
  history.replaceState(null, "", location.pathname);
  document.getElementById("token").value = m[1];
  document.forms[0].submit();
}
`;

/** The dashboard page (its data comes from the script). */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>siglatch dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/app.css"></head>
<body>
<header><h1>siglatch</h1><span id="summary"></span>
<span class="spacer"></span>
<button id="reload">Reload config</button>
<form method="post" action="/logout" id="logout-form"><input type="hidden" name="csrf" id="logout-csrf"><button>Log out</button></form>
</header>
<p id="notice" role="status"></p>
<main>
<section class="wide"><h2>Rates (per second)</h2><canvas id="chart" width="900" height="120"></canvas>
<p class="legend"><span class="k rec">received</span> <span class="k acc">accepted</span> <span class="k rej">rejected</span></p></section>
<section class="wide"><h2>Live decisions</h2><table id="decisions"><thead><tr><th>time</th><th>decision</th><th>user</th><th>action</th><th>source</th><th>reason</th></tr></thead><tbody></tbody></table></section>
<section><h2>Servers</h2><table id="servers"></table></section>
<section><h2>Users</h2><table id="users"></table></section>
<section><h2>Enrollments</h2><table id="enrollments"></table></section>
<section><h2>Cluster nodes</h2><table id="nodes"></table></section>
<section><h2>Actions</h2><table id="actions"></table></section>
<section><h2>Grants</h2><table id="grants"></table></section>
<section><h2>Bans</h2>
<form id="ban-form"><input id="ban-addr" placeholder="address or CIDR" required>
<input id="ban-for" placeholder="for (e.g. 10m)"><button id="ban">Ban</button></form>
<table id="bans"></table></section>
<section><h2>Messages</h2>
<form id="broadcast-form"><input id="broadcast-text" placeholder="broadcast text" required>
<select id="broadcast-level"><option>info</option><option selected>notice</option><option>warning</option><option>critical</option></select>
<button id="broadcast">Broadcast</button> <button type="button" id="broadcast-clear">Clear</button></form>
<table id="messages"></table></section>
</main>
<script src="/app.js"></script>
</body></html>`;

/** The style sheet. */
export const APP_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{display:flex;align-items:center;gap:1em;padding:.6em 1em;background:#1d2330;color:#fff}
header h1{font-size:1.2em;margin:0}.spacer{flex:1}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em;padding:1em}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:.6em 1em}
section.wide{grid-column:1/-1}h2{font-size:1em;margin:.2em 0 .6em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:2px 6px;border-bottom:1px solid #eef}
tr.rejected td{color:#a02020}tr.accepted td{color:#106020}
#decisions tbody{font-family:ui-monospace,monospace;font-size:12px}
#notice{margin:.5em 1em;min-height:1.2em}.error{color:#a02020}
form{display:inline-flex;gap:.4em;margin-bottom:.5em}
.legend .k::before{content:"";display:inline-block;width:10px;height:10px;margin-right:4px}
.rec::before{background:#3366cc}.acc::before{background:#109618}.rej::before{background:#dc3912}
body.login main{display:block;max-width:360px;margin:10vh auto}
body.login form{display:flex;flex-direction:column}
`;

/** The dashboard script. */
export const APP_JS = `"use strict";
let csrf = "";
const $ = (id) => document.getElementById(id);
function notice(text, bad) { const n = $("notice"); n.textContent = text; n.className = bad ? "error" : ""; }
async function command(cmd, args) {
  const r = await fetch("/api/command", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: JSON.stringify({ cmd, args }) });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok || body.error) { notice(body.error || r.statusText, true); return; }
  notice(body.result && body.result.message ? body.result.message : cmd + ": done", false);
  await refresh();
}
function table(id, cols, rows, buttons) {
  const t = $(id); t.textContent = "";
  const head = t.insertRow(); for (const c of cols) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
  if (buttons) head.appendChild(document.createElement("th"));
  for (const row of rows) {
    const tr = t.insertRow();
    for (const c of cols) { const v = row[c]; tr.insertCell().textContent = Array.isArray(v) ? v.join(", ") : v == null ? "" : String(v); }
    if (buttons) { const td = tr.insertCell(); for (const [label, fn] of buttons(row)) { const b = document.createElement("button"); b.textContent = label; b.addEventListener("click", fn); td.appendChild(b); } }
  }
  if (rows.length === 0) { const td = t.insertRow().insertCell(); td.colSpan = cols.length + 1; td.textContent = "none"; }
}
function toggle(kind) {
  return (row) => [[row.state === "enabled" ? "disable" : "enable", () => command(row.state === "enabled" ? "disable" : "enable", { kind, name: row.name })]];
}
const history = [];
let last;
function chart(counters) {
  const now = Date.now();
  const cur = { t: now, rec: counters.received || 0, acc: counters.accepted || 0, rej: counters.dropped || 0 };
  if (last && now > last.t) {
    const dt = (now - last.t) / 1000;
    history.push({ rec: (cur.rec - last.rec) / dt, acc: (cur.acc - last.acc) / dt, rej: (cur.rej - last.rej) / dt });
    if (history.length > 90) history.shift();
  }
  last = cur;
  const c = $("chart"), g = c.getContext("2d"); g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...history.map((h) => Math.max(h.rec, h.acc, h.rej)));
  g.fillStyle = "#667"; g.fillText(max.toFixed(1) + "/s", 4, 10);
  for (const [k, color] of [["rec", "#3366cc"], ["acc", "#109618"], ["rej", "#dc3912"]]) {
    g.strokeStyle = color; g.beginPath();
    history.forEach((h, i) => { const x = i * (c.width / 90), y = c.height - 2 - (h[k] / max) * (c.height - 16); i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  }
}
async function refresh() {
  const r = await fetch("/api/state");
  if (r.status === 401) { location.href = "/login"; return; }
  const s = await r.json();
  csrf = s.csrf; $("logout-csrf").value = csrf;
  const st = s.status;
  $("summary").textContent = "config v" + st.config_version + " · up " + Math.round(st.uptime_ms / 1000) + " s · " + st.listening.join(", ") + (st.dry_run ? " · DRY RUN" : "");
  table("servers", ["name", "listen", "mode", "state"], s.servers, toggle("server"));
  table("users", ["id", "name", "actions", "state"], s.users, toggle("user"));
  table("actions", ["id", "name", "type", "state"], s.actions, toggle("action"));
  table("grants", ["kind", "what", "user", "action", "left"], s.grants, (row) => [["revoke", () => command("revoke", row.kind === "grant" ? { user: row.user, addr: row.what.split(" ")[0] } : { user: row.user })]]);
  table("bans", ["source", "left", "reason", "count"], s.bans, (row) => [["unban", () => command("unban", { addr: row.source })]]);
  table("messages", ["level", "text"], s.messages);
  table("enrollments", ["id", "name", "kind", "actions", "left"], s.enrollments || [], (row) => row.kind === "invite (pending)" ? [["approve", () => command("approve", { id: row.id })], ["revoke", () => command("users", { op: "revoke", name: row.name })]] : [["revoke", () => command("users", { op: "revoke", name: row.name })]]);
  table("nodes", ["node", "version", "config_version", "listening", "seen"], (s.nodes || []).map((n) => ({ ...n, node: n.node + (n.self ? " (this)" : ""), seen: n.age_s + " s ago" })));
  chart(st.counters || {});
}
function addDecision(e) {
  const p = e.properties || {};
  const tr = document.createElement("tr"); tr.className = p.decision;
  for (const v of [e.time.slice(11, 23), p.decision, p.user, p.action, p.ip === undefined ? "" : p.ip + ":" + p.port, p.reason]) tr.insertCell().textContent = v == null ? "" : String(v);
  const body = $("decisions").tBodies[0]; body.insertBefore(tr, body.firstChild);
  while (body.rows.length > 100) body.deleteRow(-1);
}
$("reload").addEventListener("click", () => command("reload", {}));
$("ban-form").addEventListener("submit", (ev) => { ev.preventDefault(); const args = { addr: $("ban-addr").value.trim(), reason: "dashboard" }; if ($("ban-for").value.trim()) args.for = $("ban-for").value.trim(); command("ban", args); });
$("broadcast-form").addEventListener("submit", (ev) => { ev.preventDefault(); command("broadcast", { text: $("broadcast-text").value, level: $("broadcast-level").value }); });
$("broadcast-clear").addEventListener("click", () => command("broadcast", { clear: true }));
const events = new EventSource("/api/events");
events.addEventListener("decision", (ev) => addDecision(JSON.parse(ev.data)));
events.addEventListener("open", () => document.body.dataset.live = "1");
refresh().then(() => document.body.dataset.ready = "1");
setInterval(refresh, 2000);
`;
