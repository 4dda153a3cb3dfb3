"""``hub gateway``: the HTTP edge for devices and vendor platforms; ``--add-key`` manages keys."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from hub.commands.argtypes import add_bootstrap, port


def add_parser(sub: Any) -> None:
    """Register ``hub gateway`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "gateway", help="serve the HTTP edge: interchange events and vendor payloads to Kafka",
        description="Serve the HTTP gateway on 127.0.0.1:8088: POST /v1/events/{kind} "
        "(interchange JSON), /v1/vendors/hikvision/isapi, /v1/vendors/dahua/events, "
        "/v1/vendors/gat1400/DispositionNotifications; GET /openapi.json, /metrics, /healthz. "
        "API keys come from the file HUB_GATEWAY_KEYS names (docs/gateway.md).")
    p.add_argument("--host", default=None, help="listen address (default HUB_GATEWAY_HOST, "
                   "127.0.0.1)")
    p.add_argument("--port", type=port, default=None, help="port (default HUB_GATEWAY_PORT, 8088)")
    p.add_argument("--keys", type=Path, default=None,
                   help="API key file (default: the file HUB_GATEWAY_KEYS names)")
    add_bootstrap(p)
    p.add_argument("--add-key", metavar="NAME", default=None,
                   help="add a key for caller NAME to the key file, print the key once and exit "
                   "(only its scrypt hash is stored)")
    p.add_argument("--kinds", default="*", help="--add-key: comma-separated source kinds the "
                   "caller may send, or * (default)")
    p.add_argument("--vendors", default="*", help="--add-key: comma-separated routes the caller "
                   "may use: interchange, hikvision, dahua, gat1400, or * (default)")
    p.add_argument("--role", default="SYSTEM", help="--add-key: the caller's RequesterRole "
                   "(default SYSTEM)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serves the gateway, or with ``--add-key`` adds one API key and exits; 2 on usage errors."""
    from hub.codec import load_codec
    from hub.settings import Settings

    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    path = args.keys or (Path(settings.gateway_keys) if settings.gateway_keys else None)
    if path is None:
        print("hub gateway: no API key file; set HUB_GATEWAY_KEYS=FILE or pass --keys FILE "
              "(create one with --add-key NAME --kinds K --vendors V)", file=sys.stderr)
        return 2
    roles = tuple(load_codec(settings.schemas_dir).types["hub.RequesterRole"]["symbols"])
    if args.add_key:
        return _add(args, path, roles)
    return _serve(args, settings, path, roles)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add(args: argparse.Namespace, path: Path, roles: tuple[str, ...]) -> int:
    """2 for a bad --role/--kinds/--vendors or an unusable key file: usage, nothing written."""
    from hub.commands.paths import output_problem
    from hub.edge.api_keys import add_key
    from hub.model.errors import ConfigError
    from hub.model.events import SOURCE_KINDS

    flag = "--keys" if args.keys else "HUB_GATEWAY_KEYS"
    problem = output_problem(path, flag)
    if problem:
        print(f"hub gateway --add-key: {problem}", file=sys.stderr)
        return 2
    try:
        key = add_key(path, args.add_key, role=args.role, kinds=_split(args.kinds),
                      vendors=_split(args.vendors), roles=roles, known_kinds=SOURCE_KINDS)
    except ConfigError as exc:
        print(f"hub gateway --add-key: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"hub gateway --add-key: {flag} {path}: cannot write ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    print(f"{path}: key for {args.add_key} ({args.role}; kinds {args.kinds}; vendors "
          f"{args.vendors}) saved; give the caller this key, it is not shown again:",
          file=sys.stderr)
    print(key)
    return 0


def _serve(args: argparse.Namespace, settings: Any, path: Path, roles: tuple[str, ...]) -> int:
    from prometheus_client import CollectorRegistry

    from hub.adapters.http_server import ListenError
    from hub.edge.api_keys import load_keys
    from hub.edge.gateway import building_lookup_plugin, make_app, serve
    from hub.edge.sink import EdgeSink
    from hub.model.errors import ConfigError
    from hub.model.events import SOURCE_KINDS
    from hub.observability.edge_metrics import create_edge

    try:
        keys = load_keys(path, roles, SOURCE_KINDS)
    except ConfigError as exc:
        print(f"hub gateway: {exc}", file=sys.stderr)
        return 2
    registry = CollectorRegistry()
    sink = EdgeSink(settings, metrics=create_edge(registry))
    lookup = building_lookup_plugin(settings, sink)
    app = make_app(settings, sink, keys, registry=registry, codec=sink.codec,
                   plugins=[lookup] if lookup is not None else [])
    try:
        return serve(app, args.host or settings.gateway_host,
                     args.port or settings.gateway_port, on_stop=sink.close, verbose=args.verbose)
    except ListenError as exc:
        print(f"hub gateway: {exc}; pass --port with a free port (default HUB_GATEWAY_PORT) or "
              "--host with an address of this machine", file=sys.stderr)
        return 2
