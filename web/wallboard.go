package web

import "net/http"

// wallboardPage is the supervisors' wallboard: every team's callers ringing
// and waiting, storm mode and agents by state, refreshed every two seconds
// from GET /v1/wallboard. The API token is asked for once and kept in the
// browser's local storage.
const wallboardPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Teamline wallboard</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f7f9}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:.5rem .8rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.storm td{background:#ffe3e0;font-weight:600}
#status{color:#666;margin-top:.8rem}
</style></head>
<body>
<h1>Teamline wallboard</h1>
<table id="board"><thead><tr><th>Team</th><th>Ringing</th><th>Waiting</th><th>Available</th><th>On call</th>
<th>Wrap-up</th><th>Away</th><th>Offline</th><th>Storm</th></tr></thead><tbody></tbody></table>
<p id="status">connecting…</p>
<script>
const status = document.getElementById('status');
function token() {
  let t = localStorage.getItem('teamline-token');
  if (!t) { t = prompt('API token'); if (t) localStorage.setItem('teamline-token', t); }
  return t || '';
}
function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.appendChild(td); }
async function refresh() {
  try {
    const res = await fetch('/v1/wallboard', {headers: {Authorization: 'Bearer ' + token()}});
    if (res.status === 401) { localStorage.removeItem('teamline-token'); status.textContent = 'wrong token'; return; }
    const teams = await res.json();
    const body = document.querySelector('#board tbody');
    body.replaceChildren();
    for (const t of teams) {
      const row = document.createElement('tr');
      if (t.storm) row.className = 'storm';
      cell(row, t.name); cell(row, t.callers_ringing); cell(row, t.callers_waiting);
      cell(row, t.agents.available); cell(row, t.agents.on_call + t.agents.ringing); cell(row, t.agents.wrap_up);
      cell(row, t.agents.away); cell(row, t.agents.offline);
      cell(row, t.storm ? 'since ' + new Date(t.storm_since).toLocaleTimeString() : '');
      body.appendChild(row);
    }
    status.textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) { status.textContent = 'no connection: ' + e; }
}
refresh(); setInterval(refresh, 2000);
</script>
</body></html>
`

func serveWallboard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(wallboardPage))
}
