"""``hub console``: the 综治中心 operators' web page; ``--add-account`` manages its accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from hub.commands.argtypes import port


def add_parser(sub: Any) -> None:
    """Register ``hub console`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "console", help="serve the 综治中心 console (board, incidents, actions)",
        description="Serve the operators' console on 127.0.0.1:8090: sign in per department, "
        "a live board of the cases in its jurisdiction, incident pages with actions. Accounts "
        "come from the file HUB_CONSOLE_ACCOUNTS names.")
    p.add_argument("--host", default=None, help="listen address (default HUB_CONSOLE_HOST, "
                   "127.0.0.1)")
    p.add_argument("--port", type=port, default=None, help="port (default HUB_CONSOLE_PORT, 8090)")
    p.add_argument("--accounts", type=Path, default=None,
                   help="accounts file (default: the file HUB_CONSOLE_ACCOUNTS names)")
    p.add_argument("--add-account", metavar="USER", default=None,
                   help="add or replace USER in the accounts file and exit; the password is "
                   "read from stdin (asked for on a terminal) and stored as a scrypt hash")
    p.add_argument("--level", choices=("GRID", "TOWNSHIP", "DISTRICT", "CITY"),
                   help="--add-account: the department's level")
    p.add_argument("--code", help="--add-account: the department's code at that level")
    p.add_argument("--name", help="--add-account: the department's name (e.g. 西湖区综治中心)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serves the console, or with ``--add-account`` adds one account and exits; 2 on usage
    errors."""
    from hub.settings import Settings

    settings = Settings.from_env()
    path = args.accounts or (Path(settings.console_accounts) if settings.console_accounts
                             else None)
    if path is None:
        print("hub console: no accounts file; set HUB_CONSOLE_ACCOUNTS=FILE or pass --accounts "
              "FILE (create one with --add-account USER --level L --code C)", file=sys.stderr)
        return 2
    if args.add_account:
        return _add(args, path)
    return _serve(args, settings, path)


def _add(args: argparse.Namespace, path: Path) -> int:
    from hub.console.accounts import add_account
    from hub.model.errors import ConfigError

    if not args.level or not args.code:
        print("hub console --add-account: give --level and --code of the department",
              file=sys.stderr)
        return 2
    password = (getpass.getpass(f"password for {args.add_account}: ") if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\n"))
    if len(password) < 8:
        print("hub console --add-account: the password must have at least 8 characters",
              file=sys.stderr)
        return 1
    try:
        add_account(path, args.add_account, args.name or args.add_account, args.level,
                    args.code, password)
    except (ConfigError, OSError) as exc:
        print(f"hub console --add-account: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: account {args.add_account} ({args.level} {args.code}) saved")
    return 0


def _serve(args: argparse.Namespace, settings: Any, path: Path) -> int:
    from hub.adapters.http_server import ListenError
    from hub.codec import load_codec, rule_contracts
    from hub.console.accounts import load_accounts
    from hub.console.analytics import AnalyticsView
    from hub.console.board import Board
    from hub.console.feed import Feed
    from hub.console.web import Console, serve
    from hub.core.rule_loading import load_rules
    from hub.model.errors import ConfigError
    from hub.observability.kafka_log import kafka_logger

    try:
        accounts = load_accounts(path)
        codec = load_codec(settings.schemas_dir)
        pack = load_rules(settings.rules_dir, *rule_contracts(codec))
    except ConfigError as exc:
        print(f"hub console: {exc}", file=sys.stderr)
        return 2
    board, view = Board(), AnalyticsView()
    feed = Feed(settings, codec, board, on_change=lambda: None,
                logger=kafka_logger(verbose=args.verbose), analytics=view)
    console = Console(board, accounts, view, feed.send_action,
                      rules=sorted(r.id for r in pack.rules),
                      pseudonym_key=settings.pseudonym_key)
    try:
        return serve(console, feed, args.host or settings.console_host,
                     args.port or settings.console_port, verbose=args.verbose)
    except ListenError as exc:
        print(f"hub console: {exc}; pass --port with a free port (default HUB_CONSOLE_PORT) or "
              "--host with an address of this machine", file=sys.stderr)
        return 2
