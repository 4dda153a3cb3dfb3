"""The console's HTML, rendered here with every value escaped; scripts and styles are local files
under hub/console/static (the command centre's network is closed: no CDN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from hub.console.accounts import Account
from hub.console.plots import CST
from hub.core.cases import TRANSITIONS
from hub.model.cases import MAX_NOTE, new_action_id
from hub.model.incidents import RISK_LEVELS, ROUTE_LEVELS

PERSONAL_HINT = "pseudonymized at the edge (keyed hash); the raw value never reaches the hub"


def _t(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{datetime.fromtimestamp(ms / 1000, UTC).astimezone(CST):%Y-%m-%d %H:%M:%S}"


def _layout(title: str, body: str, account: Account | None = None, script: str = "") -> str:
    who = ""
    if account is not None:
        d = account.department
        who = (f'<span class="who" id="who">{escape(account.name)} · {escape(d.level)} '
               f'{escape(d.code)}</span><form method="post" action="/logout" class="inline">'
               '<button type="submit">Sign out</button></form>')
    js = f'<script src="/static/{script}" defer></script>' if script else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<title>{escape(title)} · 综治中心</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="/static/console.css">{js}</head><body>'
        '<header><a href="/" class="brand">天罗地网 · 综治中心</a>'
        '<a href="/analytics" class="nav">Analytics</a>'
        f'{who}</header><main>{body}</main></body></html>')


def login(error: str | None = None) -> str:
    """The sign-in page; ``error`` is shown escaped."""
    msg = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _layout("Sign in", (
        '<section class="login"><h1>Sign in</h1>'
        f'{msg}<form method="post" action="/login">'
        '<label>Account <input name="user" id="user" autocomplete="username" required></label>'
        '<label>Password <input name="password" id="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit" id="signin">Sign in</button></form></section>'))


def _options(name: str, values: Sequence[str], label: str) -> str:
    opts = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return (f'<label>{label} <select name="{name}" id="f-{name}"><option value="">all</option>'
            f'{opts}</select></label>')


def board(account: Account, rules: Sequence[str]) -> str:
    """The board page's shell for ``account``; rows arrive from /api/board and the change stream."""
    states = ("OPEN", "ACKNOWLEDGED", "ASSIGNED", "RESOLVED", "FALSE_ALARM", "CLOSED")
    filters = (
        '<form id="filters" class="filters">'
        + _options("level", ROUTE_LEVELS, "Level") + _options("rule", rules, "Rule")
        + _options("risk", RISK_LEVELS[::-1], "Risk") + _options("state", states, "State")
        + '<label><input type="checkbox" name="all" id="f-all" value="1"> closed too</label>'
        '</form>')
    body = (
        f'<h1>Live board <small id="count"></small> <span id="live" class="live">●</span></h1>'
        '<p id="feed" class="feed" role="status" hidden></p>'
        f'{filters}<table id="board"><thead><tr><th>Risk</th><th>Incident</th><th>Rule</th>'
        '<th>Level · unit</th><th>State</th><th>Time left to acknowledge</th><th>Opened</th>'
        '</tr></thead><tbody></tbody></table>'
        '<section class="plots"><img src="/plots/hourly.svg" alt="incidents per hour">'
        '<img src="/plots/open.svg" alt="open cases per level">'
        '<img src="/plots/ack.svg" alt="time to acknowledge"></section>')
    return _layout("Board", body, account, "board.js")


def incident(account: Account, case: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
             incident: Mapping[str, Any] | None, *, notice: str | None = None) -> str:
    """The incident page: case, history and the action form; ``incident`` is None until its record
    has arrived, ``notice`` acknowledges a just-sent action."""
    iid = escape(str(case["incident_id"]))
    head = (f'<h1 data-incident="{iid}" data-version="{int(case["version"])}">'
            f'<span class="risk risk-{escape(case["risk_level"])}">{escape(case["risk_level"])}'
            f'</span> {escape(incident["title"] if incident else case["rule_id"])}</h1>'
            f'<p class="meta">{iid} · rule {escape(case["rule_id"])}</p>')
    deadline = case.get("deadline")
    summary = (
        '<dl class="case">'
        f'<dt>State</dt><dd id="state">{escape(case["state"])}</dd>'
        f'<dt>Handled by</dt><dd id="level">{escape(case["level"])} '
        f'{escape(str(case.get("department_code") or "(unrouted)"))}</dd>'
        f'<dt>Acknowledge by</dt><dd><span class="left" data-deadline="{deadline or ""}">'
        f'{_t(deadline)}</span></dd>'
        f'<dt>Assignee</dt><dd>{escape(str(case.get("assignee") or "—"))}</dd>'
        f'<dt>Escalations</dt><dd>{escape(" → ".join(case.get("escalations") or ()) or "—")}'
        '</dd></dl>')
    allowed = TRANSITIONS.get(str(case["state"]), {})
    buttons = "".join(
        f'<button type="submit" name="action" value="{a}" id="act-{a}">{a.replace("_", " ")}'
        '</button>' for a in ("ACKNOWLEDGE", "ASSIGN", "RESOLVE", "FALSE_ALARM", "REOPEN",
                              "COMMENT") if a in allowed)
    note = f'<p class="notice" role="status">{escape(notice)}</p>' if notice else ""
    actions = (f'<section><h2>Act</h2>{note}<form method="post" '
               f'action="/incidents/{iid}/actions" class="actions">'
               f'<input type="hidden" name="action_id" value="{new_action_id()}">'
               '<label>Assignee <input name="assignee" id="assignee" '
               'placeholder="person or unit (ASSIGN)"></label>'
               f'<label>Note <input name="note" id="note" maxlength="{MAX_NOTE}"></label>'
               f'<div class="buttons">{buttons}</div></form></section>')
    return _layout(f"Incident {case['incident_id']}", head + summary + actions
                   + _evidence(incident) + _building(incident) + _history(history),
                   account, "incident.js")


def _evidence(incident: Mapping[str, Any] | None) -> str:
    if incident is None:
        return "<section><h2>Evidence</h2><p>(the incident record is not read yet)</p></section>"
    rows = "".join(f"<tr><td>{escape(e['kind'])}</td><td>{escape(e['event_id'])}</td>"
                   f"<td>{_t(int(e['event_time']))}</td></tr>" for e in incident["evidence"])
    more = int(incident.get("evidence_count") or 0) - len(incident["evidence"])
    tail = f"<p>… and {more} more events (first and last shown)</p>" if more > 0 else ""
    return (f'<section><h2>Evidence (version {int(incident["version"])}, '
            f'{escape(incident.get("status") or "CONFIRMED")})</h2><table id="evidence">'
            '<thead><tr><th>Kind</th><th>Event</th><th>Event time</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>{tail}</section>")


def _building(incident: Mapping[str, Any] | None) -> str:
    b = (incident or {}).get("building")
    if not b:
        return "<section><h2>楼宇身份证</h2><p>No building on record for this site.</p></section>"
    fields = [("Building", b["building_id"]), ("Name", b.get("name")),
              ("Address", b.get("address")), ("Grid", b.get("grid_id")),
              ("Township", b.get("township_code")), ("District", b.get("district_code")),
              ("Police station", b.get("police_station_id")),
              ("Households", b.get("households")), ("Rental units", b.get("rental_units")),
              ("Risk tags", ", ".join(b.get("risk_tags") or ()) or "—")]
    rows = "".join(f"<dt>{k}</dt><dd>{escape(str(v if v is not None else '—'))}</dd>"
                   for k, v in fields)
    worker = escape(str(b.get("grid_worker_id") or "—"))
    rows += f'<dt>Grid worker</dt><dd title="{PERSONAL_HINT}">{worker}</dd>'
    return ('<section><h2>楼宇身份证 building card</h2>'
            f'<dl class="card" id="card">{rows}</dl></section>')


def _history(history: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{int(h['version'])}</td><td>{_t(int(h['time']))}</td>"
        f"<td>{escape(h['change'])}{(' ' + escape(h['action'])) if h.get('action') else ''}</td>"
        f"<td>{escape(h['state'])}</td><td>{escape(h['level'])} "
        f"{escape(str(h.get('department_code') or ''))}</td>"
        f"<td>{escape(str(h.get('actor') or ''))}</td><td>{escape(str(h.get('note') or ''))}"
        "</td></tr>" for h in history)
    return ('<section><h2>Case history</h2><table id="history"><thead><tr><th>#</th><th>Time</th>'
            '<th>Change</th><th>State</th><th>Level · unit</th><th>By</th><th>Note</th></tr>'
            f"</thead><tbody>{rows}</tbody></table></section>")


def analytics(account: Account, summary: Mapping[str, Any]) -> str:
    """The area analytics of the department's own area and the areas below it."""
    d = account.department
    funnels = summary["funnels"]
    rows = "".join(
        f"<tr><td>{escape(str(r['period_label']))}</td><td>{r['reported']}</td>"
        f"<td>{r['accepted']}</td><td>{r['resolved']}</td><td>{r['unresolved']}</td>"
        f"<td>{r['in_progress']}</td><td>{_pct(r['success_rate'])}</td></tr>" for r in funnels)
    funnel = ('<section><h2>矛盾纠纷 disputes</h2>'
              + ('<img src="/plots/funnel.svg" alt="disputes per month">' if funnels else "")
              + '<table id="funnel"><thead><tr><th>Month</th><th>Reported</th><th>受理 accepted'
              '</th><th>调处成功 resolved</th><th>Unresolved</th><th>In progress</th>'
              f'<th>Success</th></tr></thead><tbody>{rows or _none(7)}</tbody></table>'
              '</section>')
    warn_rows = "".join(
        f'<tr><td>{escape(str(w["week_label"]))}</td><td>{escape(w["area_level"])} '
        f'{escape(w["area_code"])}</td><td>{escape(w["case_type"])}</td><td>{w["count"]}</td>'
        f'<td>{float(w["baseline_mean"]):.2f}</td><td>{float(w["p_value"]):.1e}</td>'
        f'<td><span class="risk risk-{escape(w["risk_level"])}">{escape(w["risk_level"])}'
        f'</span></td><td>{"final" if w["final"] else "early"}</td></tr>'
        for w in summary["warnings"])
    warnings = ('<section><h2>案件风险管理 rising cases</h2><table id="warnings"><thead><tr>'
                '<th>Week</th><th>Area</th><th>Case type</th><th>Count</th><th>Baseline</th>'
                '<th>p</th><th>Level</th><th></th></tr></thead>'
                f'<tbody>{warn_rows or _none(8)}</tbody></table></section>')
    below = "".join(
        f'<tr><td>{escape(r["area_level"])} {escape(r["area_code"])}</td>'
        f'<td>{escape(str(r["day_label"]))}</td><td>{float(r["index"]):.1f}</td>'
        f'<td>{r["open_disputes"]}</td></tr>' for r in summary["below"])
    index = ('<section><h2>平安指数 safety index</h2>'
             + ('<img src="/plots/index.svg" alt="safety index per day">'
                if summary["index"] else "")
             + '<table id="below"><thead><tr><th>Area below</th><th>Day</th><th>Index</th>'
             f'<th>Open disputes</th></tr></thead><tbody>{below or _none(4)}</tbody></table>'
             '</section>')
    head = (f'<h1>Area analytics · {escape(d.level)} {escape(d.code)}</h1>'
            '<p class="meta">docs/analytics.md defines every figure; `hub analytics --live` '
            'publishes them.</p>')
    return _layout("Analytics", head + funnel + warnings + index, account)


def _pct(rate: object) -> str:
    return "—" if rate is None else f"{100 * float(str(rate)):.1f} %"


def _none(cols: int) -> str:
    return f'<tr><td colspan="{cols}">none yet</td></tr>'
