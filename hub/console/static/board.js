// The live board: rows from /api/board, refreshed on every `change` event of /api/stream (SSE).
"use strict";
(function () {
  const tbody = document.querySelector("#board tbody");
  const form = document.getElementById("filters");
  const live = document.getElementById("live");
  let skew = 0, rows = [], total = 0, pending = false, last = 0;

  function left(deadline) {
    if (deadline === null || deadline === undefined) return "—";
    const ms = deadline - (Date.now() + skew);
    const text = span(Math.abs(ms));
    return ms < 0 ? `overdue ${text}` : text;
  }
  function span(ms) {
    const s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s % 60).padStart(2, "0")}s`;
  }
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  function render() {
    tbody.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.incident = r.incident_id;
      tr.dataset.state = r.state;
      const risk = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = `risk risk-${r.risk_level}`; badge.textContent = r.risk_level;
      risk.append(badge);
      if (r.status === "PROVISIONAL") {  // an early alert: late data may still retract it
        const early = document.createElement("span");
        early.className = "provisional"; early.textContent = " 预警 PROVISIONAL";
        early.title = "not confirmed yet: late data may still retract it";
        risk.append(early);
      }
      const link = document.createElement("td");
      const a = document.createElement("a");
      a.href = `/incidents/${encodeURIComponent(r.incident_id)}`; a.textContent = r.incident_id;
      link.append(a);
      const due = cell(left(r.deadline)); due.className = "left"; due.dataset.deadline = r.deadline ?? "";
      if (r.deadline !== null && r.deadline < Date.now() + skew) tr.className = "overdue";
      tr.append(risk, link, cell(r.rule_id), cell(`${r.level} · ${r.department_code ?? "(unrouted)"}`),
        cell(r.state + (r.escalations.length ? ` ↑${r.escalations.join("↑")}` : "")), due,
        cell(new Date(r.opened).toLocaleString("zh-CN", { hour12: false })));
      return tr;
    }));
    document.getElementById("count").textContent =
      total > rows.length ? `(most urgent ${rows.length} of ${total})` : `(${rows.length})`;
  }
  async function load() {
    pending = false; last = Date.now();
    const q = new URLSearchParams(new FormData(form));
    const res = await fetch(`/api/board?${q}`, { headers: { Accept: "application/json" } });
    if (res.status === 401) { location.href = "/login"; return; }
    const data = await res.json();
    skew = data.now - Date.now(); rows = data.rows; total = data.total; render();
    const feed = data.feed || {}, said = document.getElementById("feed");
    said.textContent = feed.kafka || (feed.caught_up === false
      ? "Reading the cases published so far: the board is not complete yet." : "");
    said.hidden = !said.textContent;
  }
  function soon() {  // at most ~3 refreshes a second, however fast changes arrive
    if (pending) return;
    pending = true;
    setTimeout(load, Math.max(0, 300 - (Date.now() - last)));
  }
  form.addEventListener("change", load);
  function connect() {
    const events = new EventSource("/api/stream");
    events.addEventListener("change", soon);
    events.onopen = () => { live.classList.add("on"); soon(); };  // what changed meanwhile
    events.onerror = () => {
      live.classList.remove("on");
      // Refused (a 401 once a restarted console has forgotten the session) the stream is not
      // tried again by the browser, and the board stood still without a word: load() says why
      // (to /login on 401) and the stream is opened again.
      if (events.readyState === EventSource.CLOSED) { load(); setTimeout(connect, 3000); }
    };
  }
  connect();
  setInterval(() => {
    for (const td of tbody.querySelectorAll("td.left")) {
      td.textContent = left(td.dataset.deadline === "" ? null : Number(td.dataset.deadline));
    }
  }, 1000);
  setInterval(() => { for (const img of document.querySelectorAll(".plots img")) img.src = img.src.split("?")[0] + "?t=" + Date.now(); }, 30000);
  load();
})();
