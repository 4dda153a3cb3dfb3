"""``hub analytics``: area analytics over files (dispute funnel, risk warnings, safety index)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

OUTPUTS = {"disputes.jsonl": "dispute_funnel", "risk_warnings.jsonl": "risk_warning",
           "safety_index.jsonl": "safety_index"}


def add_parser(sub: Any) -> None:
    """Register ``hub analytics`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "analytics", help="area analytics over files: 矛盾纠纷 funnel, 案件风险管理, 平安指数",
        description="Compute the dispute funnel, the rising-case warnings and the safety index "
        "(docs/analytics.md) from an events file (its building records and grid reports) and "
        "optionally `hub correlate`'s incidents; writes disputes.jsonl, risk_warnings.jsonl and "
        "safety_index.jsonl into --out DIR.")
    p.add_argument("--in", dest="input", help="events .jsonl (hub simulate, hub record's "
                   "interchange lines); not with --live")
    p.add_argument("--live", action="store_true",
                   help="run live instead (a Faust agent): read the registry, "
                   "hub.src.grid_report and hub.incidents from the beginning and publish on "
                   "hub.analytics.* until stopped (SIGTERM/Ctrl-C)")
    p.add_argument("--incidents", default=None, help="incidents .jsonl (hub correlate --out); "
                   "CONFIRMED versions count")
    p.add_argument("--out", type=Path, help="directory for the three files (created if "
                   "missing); not with --live")
    p.add_argument("--config", type=Path, default=None,
                   help="thresholds and weights (default topology/analytics.yaml)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when every input was used, 1 (EXIT_BAD_INPUT) when records or incidents were rejected, 2 on
    usage errors; ``--live`` serves instead."""
    from hub.codec import load_codec, read_jsonl, record_to_json
    from hub.commands.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE
    from hub.commands.paths import directory_problem, first_problem, input_problem, utf8_problem
    from hub.core.analytics import load_analytics
    from hub.model.errors import ConfigError
    from hub.model.events import REGISTRY_KIND
    from hub.model.incidents import Incident
    from hub.offline.analytics import analyse
    from hub.offline.correlate import Rejected
    from hub.offline.inputs import read_input
    from hub.replay.record import RecordingError
    from hub.settings import Settings

    settings = Settings.from_env()
    config_path = args.config or settings.analytics_file
    not_utf8 = utf8_problem(config_path, "--config")  # the loader (hub/core) reads it as UTF-8
    if not_utf8:
        print(f"hub analytics: {not_utf8}", file=sys.stderr)
        return EXIT_USAGE
    if args.live:
        if args.input or args.out:
            print("hub analytics: --live reads Kafka; leave out --in and --out",
                  file=sys.stderr)
            return EXIT_USAGE
        return _live(args, settings, config_path)
    if not args.input or not args.out:
        print("hub analytics: give --in EVENTS.jsonl and --out DIR (or --live)", file=sys.stderr)
        return EXIT_USAGE
    problem = first_problem(
        input_problem(args.input, "--in"),
        input_problem(args.incidents, "--incidents") if args.incidents else None,
        input_problem(config_path, "--config"), directory_problem(args.out, "--out"))
    if problem:
        print(f"hub analytics: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_analytics(config_path)
    except ConfigError as exc:
        print(f"hub analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    codec = load_codec(settings.schemas_dir)
    bad_incidents = 0
    incidents: list[Incident] = []
    if args.incidents:
        for line in read_jsonl(args.incidents, pseudonym_key=settings.pseudonym_key, codec=codec,
                               accept={"incident"}):
            if line.record is None or line.error is not None:
                bad_incidents += 1
                rej = Rejected.of(line)  # said as --in's lines are
                print(f"{args.incidents}:{rej.lineno}: {rej.reason}: {rej.detail}",
                      file=sys.stderr)
                continue
            incidents.append(Incident.from_record(line.record))
    lines = read_input(args.input, pseudonym_key=settings.pseudonym_key, codec=codec,
                       only=("grid_report", REGISTRY_KIND))
    try:
        result = analyse(lines, incidents, config)
    except RecordingError as exc:  # a recording cut short, found where it stops
        print(f"hub analytics: --in {exc}; nothing written", file=sys.stderr)
        return exc.status
    args.out.mkdir(exist_ok=True)
    written = {}
    for name, records in (("disputes.jsonl", result.disputes),
                          ("risk_warnings.jsonl", result.warnings),
                          ("safety_index.jsonl", result.safety)):
        with open(args.out / name, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(record_to_json(OUTPUTS[name], rec.to_record(), codec=codec) + "\n")
        written[name] = len(records)
    for rej in result.rejected[:20]:
        print(f"{args.input}:{rej.lineno}: {rej.reason}: {rej.detail}", file=sys.stderr)
    if len(result.rejected) > 20:
        print(f"... and {len(result.rejected) - 20} more rejected lines", file=sys.stderr)
    print(f"hub analytics: {result.buildings} buildings, {result.reports} grid reports, "
          f"{result.incidents} confirmed incident versions, "
          f"{len(result.rejected) + bad_incidents} rejected; "
          + ", ".join(f"{n} {k}" for k, n in written.items()) + f" -> {args.out}",
          file=sys.stderr)
    return EXIT_BAD_INPUT if result.rejected or bad_incidents else EXIT_OK


def _live(args: argparse.Namespace, settings: Any, config_path: Path) -> int:
    from hub.codec import load_codec
    from hub.commands.exits import EXIT_NOT_READY, EXIT_OK, EXIT_USAGE
    from hub.commands.kafka_check import quiet_kafka_problem
    from hub.core.analytics import load_analytics
    from hub.model.errors import ConfigError
    from hub.online.analytics_app import (
        LiveAnalyticsApp,
        check_inputs,
        ensure_clock_topic,
        run_live,
    )

    try:
        config = load_analytics(config_path)
    except ConfigError as exc:
        print(f"hub analytics: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = quiet_kafka_problem(settings, args.verbose)
    if problem:  # at once, in the sentence every command uses: ~194 librdkafka lines came first
        print(f"hub analytics --live: {problem}", file=sys.stderr)
        return EXIT_NOT_READY
    try:
        check_inputs(settings)
        ensure_clock_topic(settings)
        live = LiveAnalyticsApp(settings, config, load_codec(settings.schemas_dir))
        n = run_live(settings, live, loglevel="debug" if args.verbose else "info")
    except Exception as exc:
        print(f"hub analytics --live: {exc}; is Kafka at {settings.bootstrap} with the hub's "
              "topics (`hub topics apply`)?", file=sys.stderr)
        return EXIT_NOT_READY
    print(f"hub analytics --live: stopped after publishing {n} records "
          f"({live.feed.live.late} inputs behind the watermark, {live.skipped} skipped)",
          file=sys.stderr)
    return EXIT_OK

