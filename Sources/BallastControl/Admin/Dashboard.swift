/// The dashboard at `GET /` on the admin listener: one page, no build step, no external assets.
/// It polls the admin API every two seconds while the tab is visible and draws its charts as
/// inline SVG on fixed scales with units and the alerts' thresholds (`DashboardScript`). Each
/// chart carries `data-points`, `data-scale-max` and `data-threshold`, and a text alternative;
/// the headless-browser test reads them.
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
  .sr-only { position:absolute; width:1px; height:1px; padding:0; margin:-1px; overflow:hidden; clip:rect(0,0,0,0); white-space:nowrap; border:0; }
  .axis { fill:var(--dim); font-size:9px; }
  .server-numbers { color:var(--dim); font-size:12px; }
  #token-form { display:flex; gap:8px; align-items:center; padding:10px 20px; background:#1f1a12; border-bottom:1px solid var(--line); }
  #token-form[hidden] { display:none; }
  #token-form input { background:var(--bg); color:var(--text); border:1px solid var(--line); border-radius:4px; padding:4px 6px; width:28em; }
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
<form id="token-form" hidden>
  <label for="token-input">This admin API wants a token (kept for this tab only):</label>
  <input id="token-input" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Use it</button>
</form>
<div id="announce" class="sr-only" role="status" aria-live="assertive" aria-atomic="true"></div>
<main>
  <section class="wide" id="alerts-section"><h2>Firing alerts</h2><div id="alerts"><span class="none">loading…</span></div><pre id="runbook"></pre></section>
  <section class="wide"><h2 id="charts-heading">Traffic (last 10 minutes)</h2><div id="charts" class="charts" role="group" aria-labelledby="charts-heading"></div></section>
  <section><h2>Upstreams</h2><div id="upstreams"></div></section>
  <section><h2>Config versions</h2><div id="versions"></div></section>
  <section class="wide" id="incidents-section"><h2>Incidents</h2><div id="incidents"></div><div id="incident-chart"></div><pre id="postmortem"></pre></section>
  <section class="wide"><h2>Timeline (newest first)</h2><div id="events"></div></section>
</main>
<script>
"""# + DashboardScript.source + #"""
</script>
</body>
</html>
"""#
}
