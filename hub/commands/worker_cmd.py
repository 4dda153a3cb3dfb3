"""``hub worker``: run the stream worker (ingest + correlation + incident publishing)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from hub.commands.argtypes import port_or_off


def add_parser(sub: Any) -> None:
    """Register ``hub worker`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser("worker", help="run the stream worker",
                       description="Consume the source topics, correlate, publish incidents.")
    p.add_argument("--rules", type=Path, default=None, help="rules directory (topology/rules)")
    p.add_argument("--worker-id", default=None,
                   help="name of this process, unique among live workers; a restart under the "
                   "same name fences its predecessor's open transaction at once (default "
                   "HUB_WORKER_ID, else host-pid)")
    p.add_argument("--metrics-port", type=port_or_off, default=None,
                   help="serve Prometheus /metrics on 127.0.0.1:PORT (0 = off; default "
                   "HUB_WEB_PORT)")
    p.add_argument("--loglevel", default="info", type=str.lower,
                   choices=("debug", "info", "warning", "error"),
                   help="debug, info, warning or error (-v before the command: debug, with "
                   "Kafka's own client log)")
    p.add_argument("--no-supervise", action="store_true",
                   help="run the worker in this process; by default hub worker runs it as a "
                   "child and restarts it when it stops itself (status 70: a fenced or failed "
                   "producer, a batch that raised), as systemd would")
    p.set_defaults(func=run)


def _child_argv(args: argparse.Namespace, worker_id: str) -> list[str]:
    argv = [sys.executable, "-m", "hub", *(["-v"] if args.verbose else []), "worker",
            "--no-supervise", "--worker-id", worker_id,
            "--loglevel", args.loglevel]
    if args.rules is not None:
        argv += ["--rules", str(args.rules)]
    if args.metrics_port is not None:
        argv += ["--metrics-port", str(args.metrics_port)]
    return argv


def resolve_worker_id(flag: str | None, settings: Any) -> str:
    """``--worker-id``, else ``HUB_WORKER_ID`` (docker-compose sets it), else host-pid."""
    return flag or settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"


def run(args: argparse.Namespace) -> int:
    """Runs the worker until stopped, under a supervisor that restarts it unless ``--no-supervise``;
    2 on usage errors."""
    from hub.commands.paths import rules_problem
    from hub.settings import Settings

    problem = rules_problem(args.rules) if args.rules is not None else None
    if problem:
        print(f"hub worker: {problem}", file=sys.stderr)
        return 2

    worker_id = resolve_worker_id(args.worker_id, Settings.from_env())
    if not args.no_supervise:
        from hub.runtime.supervise import supervise

        return supervise(_child_argv(args, worker_id))
    return _run_worker(args, worker_id)


def _run_worker(args: argparse.Namespace, worker_id: str) -> int:
    from hub.malloc_policy import return_big_buffers

    return_big_buffers()  # before any thread (metrics server, librdkafka) has an arena
    from hub.runtime.stop_signals import StopSignals

    signals = StopSignals()
    signals.install()  # before any other thread: they inherit the blocked signals
    from prometheus_client import CollectorRegistry, start_http_server

    from hub.codec import load_codec, rule_contracts
    from hub.core.rule_loading import load_rules
    from hub.gc_policy import tune_for_throughput
    from hub.model.errors import ConfigError
    from hub.observability.metrics import create
    from hub.runtime.app import create_app, run_worker
    from hub.settings import Settings

    settings = Settings.from_env()
    try:
        codec = load_codec(settings.schemas_dir)
        pack = load_rules(args.rules or settings.rules_dir, *rule_contracts(codec))
    except ConfigError as exc:
        print(f"hub worker: {exc}", file=sys.stderr)
        return 2
    registry = CollectorRegistry()
    metrics = create(registry)
    port = settings.web_port if args.metrics_port is None else args.metrics_port
    if port:
        try:
            start_http_server(port, addr=settings.web_host, registry=registry)
        except OSError as exc:
            print(f"hub worker: cannot serve metrics on {settings.web_host}:{port} ({exc}); "
                  "pass --metrics-port with a free port, or 0 to turn metrics off",
                  file=sys.stderr)
            return 2
    level = logging.getLevelName(str(args.loglevel).upper())
    if isinstance(level, int) and not args.verbose:
        logging.getLogger().setLevel(level)
    hub_app = create_app(settings, pack, worker_id=worker_id, metrics=metrics,
                         verbose=bool(args.verbose))
    tune_for_throughput()
    return run_worker(hub_app, signals)
