"""``hub topics apply | list``: make Kafka's topics match topology/topics.yaml, or show them."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.commands.argtypes import add_bootstrap
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.adapters.kafka.admin import AdminClient
    from hub.adapters.topic_specs import TopicSpec


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hub topics`` and its flags; the flags' help texts are its reference."""
    parser = subparsers.add_parser(
        "topics", help="apply or list the topics of topology/topics.yaml"
    )
    parser.add_argument("action", choices=["apply", "list"])
    parser.add_argument(
        "--file", type=Path, default=None, help="topics file (default: HUB_TOPICS_FILE)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="apply: print the plan, change nothing"
    )
    add_bootstrap(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when applied or listed, 2 when the topics file is missing or wrong, 3 when Kafka does
    not answer or refuses."""
    from hub.adapters.kafka import admin as kafka_admin
    from hub.adapters.topic_specs import load_topic_specs
    from hub.model.errors import ConfigError
    from hub.observability.kafka_log import kafka_logger

    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    path = args.file or settings.topics_file
    try:
        specs = load_topic_specs(path)
    except ConfigError as exc:  # a missing or wrong topics file: usage (README "Exit status")
        print(f"hub topics {args.action}: {exc}", file=sys.stderr)
        return 2
    try:
        # librdkafka's lines through hub.kafka, shown with -v: the one-line error says it all;
        # fail_fast: a refused bootstrap is said at once, not after the metadata timeout
        admin = kafka_admin.admin_client(settings.bootstrap, fail_fast=True, logger=kafka_logger(
            verbose=args.verbose, level=logging.CRITICAL))
        if args.action == "list":
            return _list(admin, specs)
        changes = kafka_admin.apply_topics(admin, specs, dry_run=args.dry_run)
    except kafka_admin.KafkaAdminError as exc:  # Kafka not there or refusing: not ready
        print(f"hub topics {args.action}: {exc}", file=sys.stderr)
        return 3
    verb = "would change" if args.dry_run else "changed"
    for change in changes:
        print(f"{change.action:<15} {change.topic}: {change.detail}")
    done = {c.topic for c in changes if c.action != "warn"}
    print(
        f"{len(specs)} topics declared in {path}; {verb} {len(done)}, "
        f"{len(specs) - len(done)} already as declared ({settings.bootstrap})"
    )
    return 0


def _list(admin: AdminClient, specs: list[TopicSpec]) -> int:
    """Cluster topics beside declared ones: ok, DRIFT (apply would change it), MISSING, ..."""
    from hub.adapters.kafka import admin as kafka_admin

    states = kafka_admin.describe_topics(admin)
    declared = {s.name: s for s in specs}
    drift = {c.topic for c in kafka_admin.plan_changes(specs, states)}
    names = sorted(set(states) | set(declared))
    w = max([28, *map(len, names)])
    print(f"{'topic':<{w}} {'parts':>5} {'rf':>3}  {'cleanup':<15} {'retention.ms':>13}  state")
    for name in names:
        st = states.get(name)
        if st is None:
            print(
                f"{name:<{w}} {'-':>5} {'-':>3}  {'-':<15} {'-':>13}  MISSING (hub topics apply)"
            )
            continue
        state = "undeclared" if name not in declared else ("DRIFT" if name in drift else "ok")
        print(
            f"{name:<{w}} {st.partitions:>5} {st.replication:>3}  "
            f"{st.configs.get('cleanup.policy', '?'):<15} {st.configs.get('retention.ms', '?'):>13}"
            f"  {state}"
        )
    return 0
