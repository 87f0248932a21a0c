/// The dashboard at `GET /` on the admin listener: one page, no build step, no external assets.
/// It polls the admin API every two seconds and draws its charts as inline SVG. Each chart
/// carries `data-points` (how many points it drew), which the headless-browser test reads.
enum Dashboard {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ballast</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#2a323c; --text:#d8dee6; --dim:#8a96a3; --ok:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:24px; align-items:baseline; padding:14px 20px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header .fact { color:var(--dim); } header .fact b { color:var(--text); }
  main { display:grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap:14px; padding:14px 20px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:12px 14px; min-width:0; }
  section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 10px; }
  .wide { grid-column: 1 / -1; }
  table { width:100%; border-collapse:collapse; font-size:13px; }
  td, th { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); vertical-align:top; }
  th { color:var(--dim); font-weight:normal; }
  .dot { display:inline-block; width:9px; height:9px; border-radius:50%; margin-right:6px; }
  .up { background:var(--ok); } .down { background:var(--bad); } .ejected { background:var(--warn); }
  .charts { display:grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap:10px; }
  .chart { border:1px solid var(--line); border-radius:4px; padding:6px 8px; }
  .chart .title { display:flex; justify-content:space-between; color:var(--dim); font-size:12px; }
  .chart .title b { color:var(--text); }
  svg { width:100%; height:90px; display:block; }
  .alert { border-left:3px solid var(--bad); padding:6px 10px; margin-bottom:8px; background:#1f1416; }
  .alert.ticket, .alert.info { border-color:var(--warn); background:#1f1a12; }
  .alert .meta { color:var(--dim); font-size:12px; }
  .none { color:var(--dim); }
  a { color:var(--accent); }
  #incident-chart svg { width:100%; height:auto; max-height:260px; background:#fff; border-radius:4px; margin-top:8px; }
  pre#postmortem { white-space:pre-wrap; background:#0b0f13; padding:10px; border-radius:4px; max-height:420px; overflow:auto; display:none; }
  pre#runbook { white-space:pre-wrap; background:#0b0f13; padding:10px; border-radius:4px; max-height:320px; overflow:auto; display:none; }
  .events td:first-child { white-space:nowrap; color:var(--dim); }
  .kind { font-family: ui-monospace, monospace; font-size:12px; }
  #error { color:var(--bad); }
</style>
</head>
<body>
<header>
  <h1>Ballast</h1>
  <span class="fact">config <b id="version">–</b></span>
  <span class="fact">rollout <b id="rollout">–</b></span>
  <span class="fact">active sessions <b id="sessions">–</b></span>
  <span class="fact">firing <b id="firing-count">–</b></span>
  <span class="fact" id="updated"></span>
  <span id="error"></span>
</header>
<main>
  <section class="wide" id="alerts-section"><h2>Firing alerts</h2><div id="alerts"><span class="none">loading…</span></div><pre id="runbook"></pre></section>
  <section class="wide"><h2>Traffic (last 10 minutes)</h2><div id="charts" class="charts"></div></section>
  <section><h2>Upstreams</h2><div id="upstreams"></div></section>
  <section><h2>Config versions</h2><div id="versions"></div></section>
  <section class="wide" id="incidents-section"><h2>Incidents</h2><div id="incidents"></div><div id="incident-chart"></div><pre id="postmortem"></pre></section>
  <section class="wide"><h2>Timeline</h2><div id="events"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
let token = sessionStorage.getItem("ballast-token");

async function api(path) {
  const headers = token ? { "Authorization": "Bearer " + token } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) {
    token = prompt("Admin token (Authorization: Bearer …)") || "";
    sessionStorage.setItem("ballast-token", token);
    throw new Error("the admin API wants a token");
  }
  if (!response.ok) throw new Error(path + " answered " + response.status);
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

const pct = (v) => v == null ? "–" : (v * 100).toFixed(v < 0.1 ? 2 : 1) + "%";
const ms = (v) => v == null ? "–" : (v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(2) + " s");
const rate = (v) => v == null ? "–" : v.toFixed(1) + "/s";
const num = (v) => v == null ? "–" : Math.round(v).toLocaleString();

function chart(id, title, times, values, format, color, fixedMax) {
  const w = 300, h = 90, pad = 2;
  const points = [];
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
  const finite = values.filter(v => v != null);
  const max = fixedMax ?? Math.max(1e-9, ...finite) * 1.15;
  values.forEach((v, i) => {
    if (v == null) return;
    const x = pad + (w - 2 * pad) * ((times[i] - t0) / Math.max(1, t1 - t0));
    const y = h - pad - (h - 2 * pad) * Math.min(1, v / max);
    points.push(x.toFixed(1) + "," + y.toFixed(1));
  });
  const last = finite.length ? finite[finite.length - 1] : null;
  return `<div class="chart" id="${id}" data-points="${points.length}">
    <div class="title"><span>${esc(title)}</span><b>${format(last)}</b></div>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">
      <line x1="0" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#2a323c"/>
      <polyline fill="none" stroke="${color}" stroke-width="1.6" points="${points.join(" ")}"/>
    </svg></div>`;
}

function renderCharts(series) {
  let html = "";
  for (const name of Object.keys(series.upstreams).sort()) {
    const u = series.upstreams[name], slug = name.replace(/[^a-zA-Z0-9_-]/g, "_");
    html += chart(`chart-${slug}-rate`, `${name}: requests`, series.times, u.rate, rate, "#58a6ff");
    html += chart(`chart-${slug}-errors`, `${name}: 5xx ratio`, series.times, u.errorRatio, pct, "#f85149");
    html += chart(`chart-${slug}-p99`, `${name}: p99 latency`, series.times, u.p99Seconds, ms, "#d29922");
    html += chart(`chart-${slug}-healthy`, `${name}: healthy servers`, series.times, u.healthyShare, pct, "#3fb950", 1);
  }
  html += chart("chart-sessions", "active sessions", series.times, series.activeSessions, num, "#bc8cff");
  $("charts").innerHTML = html;
}

function renderStatus(status) {
  $("version").textContent = "v" + status.version;
  $("rollout").textContent = status.rollout.canaryVersion ? `canary v${status.rollout.canaryVersion} watched` : "none";
  $("sessions").textContent = num(status.activeSessions);
  const firing = status.alerts.filter(a => a.state === "firing");
  const pending = status.alerts.filter(a => a.state === "pending");
  $("firing-count").textContent = firing.length;
  $("alerts").innerHTML = firing.length === 0
    ? `<span class="none">No alert is firing.${pending.length ? " Pending: " + pending.map(a => esc(a.name)).join(", ") : ""}</span>`
    : firing.map(a => `<div class="alert ${esc(a.severity)}" data-alert="${esc(a.name)}">
        <b>${esc(a.name)}</b> · ${esc(a.severity)} · ${esc(a.summary)}
        <div class="meta">${esc(a.condition)} — now ${esc(a.value)} · since ${new Date(a.firingSince).toLocaleTimeString()}
        · runbook: <a href="#" data-runbook="${esc(a.runbook)}">${esc(a.runbook)}</a></div></div>`).join("");
  $("upstreams").innerHTML = status.upstreams.map(u => {
    const t = status.traffic[u.name] || {};
    return `<table><tr><th colspan="2"><b>${esc(u.name)}</b> · ${esc(u.balance)} · ${rate(t.requestsPerSecond)} · 5xx ${pct(t.errorRatio)} · p99 ${ms(t.p99Seconds)}</th></tr>` +
      u.servers.map(s => {
        const state = s.ejected ? "ejected" : (s.healthy ? "up" : "down");
        return `<tr class="server" data-state="${state}"><td><span class="dot ${state}"></span>${esc(s.address)}</td><td>${state} · weight ${s.weight}</td></tr>`;
      }).join("") + "</table>";
  }).join("");
  $("versions").innerHTML = "<table><tr><th>version</th><th>when</th><th>by</th><th>outcome</th></tr>" +
    status.history.slice().reverse().map(h => `<tr><td>v${h.version}</td><td>${new Date(h.appliedAt).toLocaleTimeString()}</td>
      <td>${esc(h.author)}</td><td>${esc(h.outcome)}${h.changes.length ? "<br><span class='none'>" + h.changes.map(esc).join("<br>") + "</span>" : ""}</td></tr>`).join("") +
    "</table>";
}

function renderEvents(events) {
  const recent = events.slice(-40).reverse();
  $("events").innerHTML = recent.length === 0 ? `<span class="none">Nothing recorded in the last hour.</span>` :
    "<table class='events'>" + recent.map(e => `<tr><td>${new Date(e.at).toLocaleTimeString()}</td>
      <td class="kind">${esc(e.kind)}</td><td>${esc(e.message)}</td></tr>`).join("") + "</table>";
}

const since = (start, end) => {
  const s = Math.max(0, Math.round(((end ? new Date(end) : new Date()) - new Date(start)) / 1000));
  return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h";
};

function renderIncidents(incidents) {
  const recent = incidents.slice(0, 10);
  $("incidents").innerHTML = recent.length === 0 ? `<span class="none">No incident yet: a page-level alert opens one.</span>` :
    "<table><tr><th>#</th><th>state</th><th>opened</th><th>lasted</th><th>what fired</th><th></th></tr>" +
    recent.map(i => `<tr class="incident" data-incident="${i.id}" data-state="${i.closedAt ? "closed" : "open"}">
      <td>${i.id}</td><td><span class="dot ${i.closedAt ? "up" : "down"}"></span>${i.closedAt ? "closed" : "open"}</td>
      <td>${new Date(i.openedAt).toLocaleString()}</td><td>${since(i.openedAt, i.closedAt)}${i.closedAt ? "" : " so far"}</td>
      <td>${i.alerts.map(esc).join("<br>")}${i.closeReason ? "<br><span class='none'>" + esc(i.closeReason) + "</span>" : ""}</td>
      <td><a href="#" data-postmortem="${i.id}">postmortem draft</a></td></tr>`).join("") + "</table>";
}

document.addEventListener("click", async (event) => {
  const draft = event.target.closest("[data-postmortem]");
  if (draft) {
    event.preventDefault();
    const id = draft.dataset.postmortem, box = $("postmortem");
    try {
      const [markdown, svg] = await Promise.all([api(`/api/v1/incidents/${id}/postmortem`), api(`/api/v1/incidents/${id}/chart.svg`)]);
      $("incident-chart").innerHTML = svg;
      box.textContent = markdown;
    } catch (e) { box.textContent = String(e); }
    box.style.display = "block";
    return;
  }
  const link = event.target.closest("[data-runbook]");
  if (!link) return;
  event.preventDefault();
  const box = $("runbook");
  try { box.textContent = await api("/api/v1/runbook?path=" + encodeURIComponent(link.dataset.runbook)); }
  catch (e) { box.textContent = String(e); }
  box.style.display = "block";
});

async function refresh() {
  try {
    const [status, series, events, incidents] = await Promise.all([api("/api/v1/status"), api("/api/v1/series"),
      api("/api/v1/events?since=1h&limit=10000"), api("/api/v1/incidents")]);
    renderStatus(status);
    renderCharts(series);
    renderEvents(events.events);
    renderIncidents(incidents.incidents);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    $("error").textContent = "";
    document.body.dataset.loaded = "true";
  } catch (e) {
    $("error").textContent = String(e.message || e);
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
