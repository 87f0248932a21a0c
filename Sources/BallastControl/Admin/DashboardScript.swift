/// The dashboard's script: polling (paused while the tab is hidden), the token asked once per
/// tab, charts on fixed scales with their units, the alerts' thresholds drawn and a text
/// alternative each, newest events first, and firing alerts announced to screen readers.
enum DashboardScript {
    static let source = #"""
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const POLL_MS = 2000, EVENTS_SHOWN = 40;
let token = sessionStorage.getItem("ballast-token");
let waitingForToken = false, tokenAsks = 0, timer = null, announced = "";

// A 401 shows the token form once, however many requests got one; polling waits for it.
class NeedsToken extends Error {}
function askForToken() {
  if (waitingForToken) return;
  waitingForToken = true;
  tokenAsks += 1;
  document.body.dataset.tokenAsks = String(tokenAsks);
  $("token-form").hidden = false;
  $("token-input").focus();
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token-input").value.trim();
  sessionStorage.setItem("ballast-token", token);
  $("token-input").value = "";
  $("token-form").hidden = true;
  waitingForToken = false;
  refresh();
});

async function api(path) {
  const headers = token ? { "Authorization": "Bearer " + token } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) { askForToken(); throw new NeedsToken("the admin API wants a token"); }
  if (!response.ok) throw new Error(path + " answered " + response.status);
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

const pct = (v) => v == null ? "–" : (v * 100).toFixed(v < 0.1 ? 2 : 1) + "%";
const ms = (v) => v == null ? "–" : (v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(2) + " s");
const rate = (v) => v == null ? "–" : v.toFixed(1) + "/s";
const num = (v) => v == null ? "–" : Math.round(v).toLocaleString();

// Scales: the smallest step of a ladder that holds the data and 1.25 times the threshold, never
// below the ladder's first step, so a 0.01% blip of 5xx stays a blip on a 0–5% chart.
const ladder = (steps) => (values, threshold) => {
  const top = Math.max(0, ...values.filter(v => v != null), (threshold ?? 0) * 1.25);
  return steps.find(s => s >= top) ?? steps[steps.length - 1];
};
const niceLadder = [];
for (let e = 0; e <= 7; e++) for (const m of [1, 2, 5]) niceLadder.push(m * 10 ** e);
const scales = {
  rate: ladder(niceLadder),
  errorRatio: ladder([0.05, 0.1, 0.25, 0.5, 1]),
  p99: ladder([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]),
  share: () => 1,
  count: ladder(niceLadder.map(v => v * 10)),
};

// One chart: the line, its scale's top and bottom labelled in the chart's unit, the alert's
// threshold as a dashed line with its name, and a text alternative saying the same.
function chart(id, title, times, values, format, color, scale, threshold) {
  const w = 300, h = 90, pad = 2, left = 34;
  const finite = values.filter(v => v != null);
  const max = scale(values, threshold?.value);
  const t0 = times.length ? times[0] : 0, t1 = times.length ? times[times.length - 1] : 1;
  const y = (v) => h - pad - (h - 2 * pad) * Math.min(1, Math.max(0, v / max));
  const points = [];
  values.forEach((v, i) => {
    if (v == null) return;
    const x = left + (w - left - pad) * ((times[i] - t0) / Math.max(1, t1 - t0));
    points.push(x.toFixed(1) + "," + y(v).toFixed(1));
  });
  const last = finite.length ? finite[finite.length - 1] : null;
  const offScale = finite.some(v => v > max);
  let limit = "";
  if (threshold) {
    const ty = y(threshold.value).toFixed(1);
    limit = `<line class="threshold" x1="${left}" y1="${ty}" x2="${w}" y2="${ty}" stroke="#f85149" stroke-dasharray="4 3" stroke-width="1"/>
      <text class="axis" x="${w - 2}" y="${Math.max(9, ty - 2)}" text-anchor="end">${esc(threshold.alert)} ${format(threshold.value)}</text>`;
  }
  const summary = `${title}, last 10 minutes: ` + (finite.length
    ? `now ${format(last)}, lowest ${format(Math.min(...finite))}, highest ${format(Math.max(...finite))}`
    : "no data") + `; scale 0 to ${format(max)}` + (threshold ? `; alert ${threshold.alert} at ${format(threshold.value)}` : "")
    + (offScale ? "; some values are above the scale" : "");
  return `<div class="chart" id="${id}" data-points="${points.length}" data-scale-max="${max}" data-threshold="${threshold ? threshold.value : ""}">
    <div class="title"><span>${esc(title)}</span><b>${format(last)}</b></div>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-labelledby="${id}-desc">
      <title id="${id}-desc">${esc(summary)}</title>
      <text class="axis" x="0" y="9">${esc(format(max))}</text>
      <text class="axis" x="0" y="${h - 3}">0</text>
      <line x1="${left}" y1="${h - pad}" x2="${w}" y2="${h - pad}" stroke="#2a323c"/>
      ${limit}
      <polyline fill="none" stroke="${color}" stroke-width="1.6" points="${points.join(" ")}"/>
    </svg></div>`;
}

function renderCharts(series) {
  let html = "";
  for (const name of Object.keys(series.upstreams).sort()) {
    const u = series.upstreams[name], slug = name.replace(/[^a-zA-Z0-9_-]/g, "_");
    const limits = (series.thresholds || {})[name] || {};
    html += chart(`chart-${slug}-rate`, `${name}: requests`, series.times, u.rate, rate, "#58a6ff", scales.rate);
    html += chart(`chart-${slug}-errors`, `${name}: 5xx ratio`, series.times, u.errorRatio, pct, "#f85149", scales.errorRatio, limits.errorRatio);
    html += chart(`chart-${slug}-p99`, `${name}: p99 latency`, series.times, u.p99Seconds, ms, "#d29922", scales.p99, limits.p99Seconds);
    html += chart(`chart-${slug}-healthy`, `${name}: healthy servers`, series.times, u.healthyShare, pct, "#3fb950", scales.share, limits.healthyShare);
  }
  html += chart("chart-sessions", "active sessions", series.times, series.activeSessions, num, "#bc8cff", scales.count);
  $("charts").innerHTML = html;
}

// Firing alerts are announced once when the set changes, not at every refresh.
function announce(firing) {
  const text = firing.length === 0 ? "" :
    firing.map(a => `Alert ${a.name} firing (${a.severity}): ${a.summary}`).join(". ");
  if (text !== announced) {
    announced = text;
    $("announce").textContent = text || "No alert is firing.";
  }
}

function renderStatus(status) {
  $("version").textContent = "v" + status.version;
  $("rollout").textContent = status.rollout.canaryVersion ? `canary v${status.rollout.canaryVersion} watched` : "none";
  $("sessions").textContent = num(status.activeSessions);
  const firing = status.alerts.filter(a => a.state === "firing");
  const pending = status.alerts.filter(a => a.state === "pending");
  $("firing-count").textContent = firing.length;
  announce(firing);
  $("alerts").innerHTML = firing.length === 0
    ? `<span class="none">No alert is firing.${pending.length ? " Pending: " + pending.map(a => esc(a.name)).join(", ") : ""}</span>`
    : firing.map(a => `<div class="alert ${esc(a.severity)}" data-alert="${esc(a.name)}">
        <b>${esc(a.name)}</b> · ${esc(a.severity)} · ${esc(a.summary)}
        <div class="meta">${esc(a.condition)} — now ${esc(a.value)} · since ${new Date(a.firingSince).toLocaleTimeString()}
        · runbook: <a href="#" data-runbook="${esc(a.runbook)}">${esc(a.runbook)}</a></div></div>`).join("");
  const perServer = status.serverTraffic || {};
  $("upstreams").innerHTML = status.upstreams.map(u => {
    const t = status.traffic[u.name] || {};
    return `<table><tr><th colspan="3"><b>${esc(u.name)}</b> · ${esc(u.balance)} · ${rate(t.requestsPerSecond)} · 5xx ${pct(t.errorRatio)} · p99 ${ms(t.p99Seconds)}</th></tr>` +
      u.servers.map(s => {
        const state = s.ejected ? "ejected" : (s.healthy ? "up" : "down");
        const n = (perServer[u.name] || {})[s.address] || {};
        return `<tr class="server" data-state="${state}" data-server="${esc(s.address)}"><td><span class="dot ${state}"></span>${esc(s.address)}</td>
          <td>${state} · weight ${s.weight}</td>
          <td class="server-numbers">${rate(n.requestsPerSecond)} · errors ${pct(n.errorRatio)} · p99 ${ms(n.p99Seconds)}</td></tr>`;
      }).join("") + "</table>";
  }).join("");
  $("versions").innerHTML = "<table><tr><th>version</th><th>when</th><th>by</th><th>outcome</th></tr>" +
    status.history.slice().reverse().map(h => `<tr><td>v${h.version}</td><td>${new Date(h.appliedAt).toLocaleTimeString()}</td>
      <td>${esc(h.author)}</td><td>${esc(h.outcome)}${h.changes.length ? "<br><span class='none'>" + h.changes.map(esc).join("<br>") + "</span>" : ""}</td></tr>`).join("") +
    "</table>";
}

// The API answers newest first, at most EVENTS_SHOWN: the page never reads the whole hour.
function renderEvents(events) {
  $("events").innerHTML = events.length === 0 ? `<span class="none">Nothing recorded in the last hour.</span>` :
    "<table class='events'>" + events.map(e => `<tr class="event" data-id="${e.id ?? ""}"><td>${new Date(e.at).toLocaleTimeString()}</td>
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
  clearTimeout(timer);
  timer = null;
  if (waitingForToken || document.hidden) return;
  try {
    const [status, series, events, incidents] = await Promise.all([api("/api/v1/status"), api("/api/v1/series"),
      api(`/api/v1/events?since=1h&order=newest&limit=${EVENTS_SHOWN}`), api("/api/v1/incidents")]);
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
  document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  if (!waitingForToken && !document.hidden) timer = setTimeout(refresh, POLL_MS);
}
// A hidden tab asks nothing; it catches up at once when shown again.
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
"""#
}
