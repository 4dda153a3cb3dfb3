// An incident page reloads itself when its case changes (a new version on hub.cases).
"use strict";
(function () {
  const head = document.querySelector("h1[data-incident]");
  const id = head.dataset.incident, version = Number(head.dataset.version);
  async function check() {
    const res = await fetch(`/api/incidents/${encodeURIComponent(id)}`);
    if (res.status === 401) { location.href = "/login"; return; }  // the session is gone
    if (res.status === 404) {  // the case left this unit's reach (escalated up a level)
      gone();
      return;
    }
    if (!res.ok) return;
    const data = await res.json();
    if (data.case.version !== version) location.replace(`/incidents/${encodeURIComponent(id)}`);
  }
  function gone() {  // never leave the actions of a case this unit may no longer act on
    document.querySelectorAll("form").forEach((f) => f.remove());
    if (document.getElementById("gone")) return;
    const note = document.createElement("p");
    note.id = "gone"; note.className = "notice"; note.setAttribute("role", "alert");
    note.textContent = "This case is no longer yours to act on: it moved out of your unit's " +
      "reach (escalated up a level, or re-routed). Back to the board.";
    const back = document.createElement("a");
    back.href = "/"; back.textContent = " 返回 Board";
    note.append(back);
    head.after(note);
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
