"""``hub console``: the 综治中心 operators' web page (aiohttp), on 127.0.0.1:8090 by default.

Sign-in per department; every page and API answer is cut to the signed-in department's
jurisdiction by the board (a neighbour's incident is a 404, as if it did not exist). The live
board is Server-Sent Events: the feed thread bumps the board's version, every open page gets a
``change`` event and fetches its rows again (at most a few times a second).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.adapters.http_server import serve_until_stopped
from hub.console import pages, plots
from hub.console.accounts import Account
from hub.console.analytics import AnalyticsView
from hub.console.board import Board, Entry, Filters
from hub.console.feed import ActionNotStored, Feed, now_ms
from hub.console.signin import SignIns
from hub.core.cases import TRANSITIONS
from hub.core.pseudonym import scrub_text
from hub.model.cases import ACTIONS, MAX_ASSIGNEE, MAX_NOTE, IncidentAction, new_action_id
from hub.model.errors import a_or_an
from hub.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "hub_console"
#: What ``?notice=`` may say on an incident page (after an action was sent).
NOTICES = frozenset(f"{a} sent" for a in ACTIONS)
#: Sent with every answer: the page's scripts, styles and images are its own files (no inline
#: code, no CDN), it is never framed, and it tells other sites nothing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: An action id a form may carry (pages.incident writes a fresh one into every form).
ACTION_ID = re.compile(r"act-[0-9a-f]{32}")
#: Not in a note or an assignee: C0/C1 controls but the line breaks and tab, and the
#: bidirectional overrides and isolates (U+202A-E, U+2066-9).
NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SESSION_S = 12 * 3600
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Console:
    """The console's shared state, one per web app: the board, accounts and analytics the feed
    fills, ``send`` to store operator actions in Kafka, and the signed-in sessions."""

    board: Board
    accounts: dict[str, Account]
    analytics: AnalyticsView
    send: Callable[[IncidentAction], None]
    rules: list[str] = field(default_factory=list)
    #: personal numbers an operator types into a note or an assignee are replaced by their
    #: pseudonyms before the action is stored: the console is an edge like any other
    pseudonym_key: str = Settings.pseudonym_key
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)
    listeners: set[asyncio.Queue[int]] = field(default_factory=set)
    signins: SignIns = field(init=False)
    #: the feed's freshness (Feed.status); a console without a feed is always fresh
    feed_status: Callable[[], dict[str, Any]] = field(
        default=lambda: {"caught_up": True, "kafka": None})

    def __post_init__(self) -> None:
        self.signins = SignIns(self.accounts)

    def account(self, request: web.Request) -> Account | None:
        """The signed-in account of ``request``, or None when there is no session or it has
        expired."""
        token = request.cookies.get(COOKIE)
        session = self.sessions.get(token or "")
        if session is None or session[1] < time.time():
            return None
        return self.accounts.get(session[0])

    def changed(self) -> None:
        """Called on the event loop after the board changed."""
        for q in list(self.listeners):
            if q.empty():
                q.put_nowait(self.board.version)


APP_KEY = web.AppKey("console", Console)
#: The signed-in account, set by ``guard`` on every request past it.
ACCOUNT_KEY = web.RequestKey("account", Account)
#: Put on every live stream's queue at shutdown: the streams end, so a browser that keeps its
#: board open does not hold up SIGTERM (aiohttp waits for open handlers when it shuts down).
CLOSE_STREAM = -1


def _console(request: web.Request) -> Console:
    return request.app[APP_KEY]


def _me(request: web.Request) -> Account:
    account: Account = request[ACCOUNT_KEY]
    return account


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: SECURITY_HEADERS on every answer, errors and files included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign-in for everything but the sign-in page and static files; same-origin POSTs only."""
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="cross-site request refused")
    if request.path in {"/login", "/healthz"} or request.path.startswith("/static/"):
        return await handler(request)
    account = _console(request).account(request)
    if account is None:
        if request.path.startswith(("/api/", "/plots/")):
            raise web.HTTPUnauthorized(text="sign in first")
        raise web.HTTPFound("/login")
    request[ACCOUNT_KEY] = account
    return await handler(request)


async def login_page(request: web.Request) -> web.Response:
    """GET /login."""
    return web.Response(text=pages.login(), content_type="text/html")


async def login(request: web.Request) -> web.Response:
    """POST /login: check the password and open a session cookie; a wrong user and a wrong password
    get the same answer, after the same work (hub.console.signin), and repeated failures a 429."""
    form = await request.post()
    console = _console(request)
    user, client = str(form.get("user", "")), request.remote or "?"
    wait = console.signins.refused_for(user, client)
    if wait > 0:
        return web.Response(text=pages.login(f"Too many failed sign-ins; try again in "
                                             f"{int(wait) + 1} s."), content_type="text/html",
                            status=429, headers={"Retry-After": str(int(wait) + 1)})
    account = await console.signins.check(user, str(form.get("password", "")), client)
    if account is None:
        return web.Response(text=pages.login("Unknown account or wrong password."),
                            content_type="text/html", status=401)
    token = secrets.token_urlsafe(32)
    now = time.time()
    for old in [t for t, (_, until) in console.sessions.items() if until < now]:
        del console.sessions[old]  # expired sessions go when someone signs in
    console.sessions[token] = (account.user, now + SESSION_S)
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=SESSION_S)
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /logout: drop the session and redirect to /login."""
    _console(request).sessions.pop(request.cookies.get(COOKIE, ""), None)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE)
    raise response


async def board_page(request: web.Request) -> web.Response:
    """GET /: the board page shell."""
    return web.Response(text=pages.board(_me(request), _console(request).rules),
                        content_type="text/html")


async def board_api(request: web.Request) -> web.Response:
    """GET /api/board: the rows the department may see under the query's filters, with the board
    version the page compares change events against."""
    console = _console(request)
    dept, filters = _me(request).department, Filters.from_query(request.query)
    rows = console.board.rows(dept, filters)
    return web.json_response({"now": now_ms(), "version": console.board.version, "rows": rows,
                              "total": console.board.count(dept, filters),
                              "feed": console.feed_status()})


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/stream: server-sent ``change`` events carrying the board version (keep-alives every
    15 s), so pages refetch only when something changed."""
    console = _console(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    console.listeners.add(queue)
    try:
        await response.write(f"event: change\ndata: {console.board.version}\n\n".encode())
        while True:
            try:
                version = await asyncio.wait_for(queue.get(), timeout=15)
                if version == CLOSE_STREAM:
                    break
                await response.write(f"event: change\ndata: {version}\n\n".encode())
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        console.listeners.discard(queue)
    return response


def _entry(request: web.Request) -> tuple[Console, Account, str, Entry]:
    """The incident the path names, as the signed-in department may see it (one copy)."""
    console, me = _console(request), _me(request)
    iid = request.match_info["iid"]
    entry = console.board.visible(me.department, iid)
    if entry is None:
        # A neighbour's incident looks exactly like one that does not exist.
        raise web.HTTPNotFound(text=f"no incident {iid} in your jurisdiction")
    return console, me, iid, entry


async def incident_page(request: web.Request) -> web.Response:
    """GET /incidents/{iid}: 404 when the incident is outside the department's jurisdiction."""
    _, me, _, entry = _entry(request)
    notice = request.query.get("notice")
    if notice not in NOTICES:
        notice = None  # only the console's own words: a link must not put text on the page
    return web.Response(text=pages.incident(me, entry.case, entry.history, entry.incident,
                                            notice=notice),
                        content_type="text/html")


async def incident_api(request: web.Request) -> web.Response:
    """GET /api/incidents/{iid}: the case, its history and incident as JSON; 404 as
    incident_page."""
    entry = _entry(request)[3]
    return web.json_response({"case": entry.case, "history": entry.history,
                              "incident": entry.incident})


async def act(request: web.Request) -> web.Response:
    """POST /incidents/{iid}/actions: store an operator action in Kafka (the board changes only when
    it comes back through the feed); 503 when it was not stored, 202 for JSON clients.

    An action the case cannot take as the board shows it (ACKNOWLEDGE twice, REOPEN on an open
    case) is answered 409 at once rather than sent to be rejected where the operator never
    looks; two operators acting at the same moment are still decided by the casework. The form
    carries its ``action_id``: sent again after a 503, it is the same action, applied once."""
    console, me, iid, entry = _entry(request)
    form = await request.post()
    what = str(form.get("action", ""))
    if what not in ACTIONS:
        raise web.HTTPBadRequest(text=f"action {what!r}: use one of {', '.join(ACTIONS)}")
    state = str(entry.case["state"])
    allowed = TRANSITIONS.get(state, {})
    if what not in allowed:
        raise web.HTTPConflict(text=f"action {what!r}: not allowed on {a_or_an(state)} case; "
                               f"allowed: {', '.join(allowed)} (reload the page: the case may "
                               "have moved)")
    typed = {"assignee": str(form.get("assignee") or "").strip(),
             "note": str(form.get("note") or "")}
    for name, most in (("assignee", MAX_ASSIGNEE), ("note", MAX_NOTE)):
        value = typed[name]
        if len(value) > most:
            raise web.HTTPBadRequest(text=f"{name}: {len(value):,} characters; at most "
                                     f"{most:,} (keep documents outside, link to them)")
        bad = NOT_IN_TEXT.search(value)
        if bad is not None:  # a line of the case's history for ever, shown to every level
            raise web.HTTPBadRequest(text=f"{name}: U+{ord(bad.group()):04X} at character "
                                     f"{bad.start()}: control and direction-override "
                                     "characters would hide or reorder what others read; "
                                     "remove it")
        # A phone, ID or card number typed in goes to Kafka and every level's history as its
        # pseudonym (hub.core.pseudonym.scrub_text), never as typed (an outside probe found
        # them raw); a pseudonym is longer than the number it replaces
        typed[name] = value = scrub_text(value, console.pseudonym_key)
        if len(value) > most:
            raise web.HTTPBadRequest(text=f"{name}: {len(value):,} characters once the personal "
                                     f"numbers in it are replaced by their pseudonyms; at most "
                                     f"{most:,}: shorten it")
    assignee, note = typed["assignee"], typed["note"]
    if what == "ASSIGN" and not assignee:
        raise web.HTTPBadRequest(text="assignee: ASSIGN needs a person or unit; fill it in")
    given = str(form.get("action_id") or "")
    action_id = (form_action_id(given, me.user, iid, what, assignee, note)
                 if ACTION_ID.fullmatch(given) else new_action_id())
    action = IncidentAction(action_id, iid, what, me.user, me.department, now_ms(),
                            assignee or None, note or None)
    try:
        await asyncio.get_running_loop().run_in_executor(None, console.send, action)
    except ActionNotStored as exc:
        said = ("Kafka did not confirm the action in time ({}): it may still be applied, if "
                "Kafka had received it. Reload the case before acting otherwise" if exc.maybe
                else "the action was not stored ({}); nothing changed")
        raise web.HTTPServiceUnavailable(
            text=said.format(exc) + ". Sending the same form again is safe: it keeps its "
                 "action id, and the casework applies an id once") from exc
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"action_id": action.action_id}, status=202)
    raise web.HTTPSeeOther(f"/incidents/{iid}?notice={what}+sent")


def form_action_id(given: str, user: str, iid: str, what: str, assignee: str, note: str) -> str:
    """The id of the action a form carrying ``given`` sends: the same form sent again (a double
    click, a retry after a 503) is the same action, applied once; a different action from the
    same form (a stale tab: COMMENT, then RESOLVE) is another one. Taken as given, the RESOLVE
    was answered 202 and dropped by the casework as a repeat (an outside probe)."""
    text = "\x1f".join((given, user, iid, what, assignee, note))
    return "act-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _svg(text: str) -> web.Response:
    return web.Response(text=text, content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


async def plot(request: web.Request) -> web.Response:
    """GET /plots/{name}.svg: a chart of the department's board, never cached."""
    stats = _console(request).board.stats(_me(request).department, now_ms())
    name = request.match_info["name"]
    if name == "hourly":
        return _svg(plots.hourly(stats["per_hour"], stats["start"]))
    if name == "open":
        return _svg(plots.open_per_level(stats["open_per_level"]))
    if name == "ack":
        return _svg(plots.time_to_acknowledge(stats["to_ack_minutes"]))
    if name in {"funnel", "index"}:
        summary = _console(request).analytics.summary(_me(request).department)
        if name == "funnel":
            return _svg(plots.funnel(summary["funnels"]))
        return _svg(plots.index_line(summary["index"]))
    raise web.HTTPNotFound()


async def analytics_page(request: web.Request) -> web.Response:
    """GET /analytics: the area analytics page for the department."""
    me = _me(request)
    summary = _console(request).analytics.summary(me.department)
    return web.Response(text=pages.analytics(me, summary), content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: unauthenticated liveness with the number of cases held."""
    return web.json_response({"cases": len(_console(request).board)})


async def close_streams(app: web.Application) -> None:
    """At shutdown: end every live stream (its queue gets CLOSE_STREAM in place of a version)."""
    for queue in list(app[APP_KEY].listeners):
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(CLOSE_STREAM)


def create_web_app(console: Console) -> web.Application:
    """The aiohttp app for ``console``: routes, the sign-in guard and closing streams at
    shutdown."""
    app = web.Application(middlewares=[guard])
    app[APP_KEY] = console
    app.on_shutdown.append(close_streams)
    app.on_response_prepare.append(secure_headers)
    app.add_routes([
        web.get("/login", login_page), web.post("/login", login), web.post("/logout", logout),
        web.get("/", board_page), web.get("/api/board", board_api),
        web.get("/api/stream", stream),
        web.get("/incidents/{iid}", incident_page), web.get("/api/incidents/{iid}", incident_api),
        web.post("/incidents/{iid}/actions", act),
        web.get("/plots/{name}.svg", plot), web.get("/healthz", healthz),
        web.get("/analytics", analytics_page),
        web.static("/static", STATIC),
    ])
    return app


def serve(console: Console, feed: Feed, host: str, port: int, *, verbose: bool = False) -> int:
    """Run the console until SIGTERM/SIGINT; the feed thread runs beside the web server and is
    closed once the server has stopped."""

    def start_feed(loop: asyncio.AbstractEventLoop) -> None:
        def changed() -> None:
            loop.call_soon_threadsafe(console.changed)

        feed.on_change = changed
        console.feed_status = feed.status
        feed.start()

    return serve_until_stopped(create_web_app(console), host, port, name="console",
                               summary=f"{len(console.accounts)} accounts",
                               on_start=start_feed, on_stop=feed.close, verbose=verbose)
