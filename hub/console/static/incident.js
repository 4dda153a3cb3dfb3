// An incident page reloads itself when its case changes (a new version on hub.cases).
"use strict";
(function () {
  const head = document.querySelector("h1[data-incident]");
  const id = head.dataset.incident, version = Number(head.dataset.version);
  async function check() {
    const res = await fetch(`/api/incidents/${encodeURIComponent(id)}`);
    if (res.status === 401) { location.href = "/login"; return; }  // the session is gone
    if (!res.ok) return;
    const data = await res.json();
    if (data.case.version !== version) location.replace(`/incidents/${encodeURIComponent(id)}`);
  }
  function connect() {  // as the board: a refused stream is not retried by the browser
    const events = new EventSource("/api/stream");
    events.addEventListener("change", check);
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) { check(); setTimeout(connect, 3000); }
    };
  }
  connect();
  const left = document.querySelector(".left[data-deadline]");
  if (left && left.dataset.deadline) {
    const deadline = Number(left.dataset.deadline), at = left.textContent;
    setInterval(() => {
      const ms = deadline - Date.now(), s = Math.abs(Math.round(ms / 1000));
      left.textContent = `${at} (${ms < 0 ? "overdue " : ""}${Math.floor(s / 60)}m ${s % 60}s${ms < 0 ? "" : " left"})`;
    }, 1000);
  }
})();
