"""``hub buildings``: the 楼宇身份证 (building identity card) registry's tools.

  hub buildings load FILE.csv|FILE.jsonl   publish cards to hub.registry.building (key
                                           building_id) and write them to Redis at once
  hub buildings qr BUILDING_ID --out F.png the door plate's QR code of the card's lookup URL

``load`` reports a bad row as ``FILE:LINE: field: message`` and publishes every good one; a
summary line ends its output. Each card Kafka acknowledged is also written to Redis
(``hub:building:{id}``, the JSON a worker's registry mirror writes), so the lookup route answers
it at once, before any worker has read the topic; Redis down is a warning, not a failure, since
Kafka is the source of truth and a worker mirrors the cards when it runs.

Exit status: 0 all published; 1 a row rejected or not delivered; 2 the file (or an option) is
unusable; 3 Kafka does not answer or the topic is missing (nothing sent). CSV columns and the
lookup API: docs/buildings.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

from hub.codec.limits import BAD_IN_ID, MAX_ID_CHARS
from hub.commands.argtypes import add_bootstrap, positive_seconds
from hub.commands.exits import EXIT_BAD_INPUT, EXIT_NOT_READY, EXIT_OK, EXIT_USAGE
from hub.commands.paths import input_problem, output_problem
from hub.settings import REGISTRY_TOPIC, Settings, SettingsError, check_redis_url

#: Per-row messages printed before the rest are only counted (as ``hub produce``).
SHOW = 20
#: Seconds a card may take to be acknowledged before it counts as not delivered.
DELIVERY_TIMEOUT_S = 30.0


def add_parser(subparsers: Any) -> None:
    """Register ``hub buildings`` and its actions; the flags' help texts are its reference."""
    p = subparsers.add_parser(
        "buildings", help="load building identity cards (楼宇身份证); door-plate QR codes",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    load = sub.add_parser(
        "load", help="publish cards from a CSV or JSON-lines file",
        description="Validate each row, publish the good ones to hub.registry.building and "
        "write them to Redis. CSV columns: docs/buildings.md.")
    load.add_argument("file", metavar="FILE", help="FILE.csv or FILE.jsonl; '-' reads stdin "
                      "(then give --format)")
    load.add_argument("--format", choices=("csv", "jsonl"),
                      help="the file's format (default: from its suffix)")
    add_bootstrap(load)
    load.add_argument("--redis-url", help="Redis for the lookup cards (default: HUB_REDIS_URL)")
    load.add_argument("--no-redis", action="store_true",
                      help="publish to Kafka only; workers mirror the cards to Redis later")
    load.add_argument("--timeout", type=positive_seconds, default=DELIVERY_TIMEOUT_S, metavar="S",
                      help="seconds a card may take to be delivered (default: %(default)g)")
    load.set_defaults(func=run_load)

    qr = sub.add_parser(
        "qr", help="write the door plate's QR code (PNG) of a card's lookup URL",
        description="The code holds {base}/v1/buildings/{id}?channel=QR_SCAN: scanning it "
        "opens the card through hub gateway and counts a QR_SCAN lookup.")
    qr.add_argument("building_id", metavar="BUILDING_ID")
    qr.add_argument("--out", required=True, metavar="FILE.png", help="the PNG to write")
    qr.add_argument("--base-url", metavar="URL",
                    help="where phones reach hub gateway (default: http://HUB_GATEWAY_HOST:"
                    "HUB_GATEWAY_PORT, i.e. http://127.0.0.1:8088); use the public address "
                    "for real plates")
    qr.set_defaults(func=run_qr)


# -- load ----------------------------------------------------------------------------------------


def run_load(args: argparse.Namespace) -> int:
    """Exit status as in the module doc: 0 all published, 1 a row rejected or not delivered,
    2 the file or an option is unusable, 3 Kafka not ready (nothing sent)."""
    from hub.buildings.cards import CardFileError, file_format, format_row_error, read_cards
    from hub.codec import load_codec

    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    source = "<stdin>" if args.file == "-" else str(args.file)
    problem = input_problem(args.file, "FILE", "a card file (.csv, or JSON lines)")
    if problem is None and args.file == "-" and args.format is None:
        problem = "FILE -: give --format csv or --format jsonl when reading stdin"
    if problem is None and args.redis_url and not args.no_redis:
        try:
            check_redis_url("--redis-url", args.redis_url)
        except SettingsError as exc:
            problem = str(exc)
    if problem:
        print(f"hub buildings load: {problem}", file=sys.stderr)
        return EXIT_USAGE
    codec = load_codec(settings.schemas_dir)
    try:
        fmt = file_format(args.file, args.format)
        rows = read_cards(args.file, fmt, codec=codec, pseudonym_key=settings.pseudonym_key,
                          now_ms=time.time_ns() // 1_000_000)
    except CardFileError as exc:
        print(f"hub buildings load: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"hub buildings load: cannot read {source}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_USAGE

    bad = [r for r in rows if not r.ok]
    for row in bad[:SHOW]:
        print(format_row_error(row, source), file=sys.stderr)
    if len(bad) > SHOW:
        print(f"hub buildings load: ... and {len(bad) - SHOW} more rejected rows",
              file=sys.stderr)
    good = [(r.lineno, r.record) for r in rows if r.record is not None]
    if not good:
        print(f"published 0, rejected {len(bad)}")
        return EXIT_BAD_INPUT if bad else EXIT_OK

    outcome = _publish(settings, codec, good, args.timeout, verbose=args.verbose)
    if isinstance(outcome, str):
        print(f"hub buildings load: {outcome}; nothing was sent", file=sys.stderr)
        return EXIT_NOT_READY
    delivered, failed = outcome
    for lineno, why in failed[:SHOW]:
        print(f"{source}:{lineno}: not delivered: {why}", file=sys.stderr)
    if len(failed) > SHOW:
        print(f"hub buildings load: ... and {len(failed) - SHOW} more rows not delivered",
              file=sys.stderr)

    mirrored = ""
    if delivered and not args.no_redis:
        mirrored = _mirror(args.redis_url or settings.redis_url, delivered)
    print(f"published {len(delivered)}, rejected {len(bad)}"
          + (f", not delivered {len(failed)}" if failed else "") + mirrored)
    return EXIT_BAD_INPUT if bad or failed else EXIT_OK


def _publish(settings: Settings, codec: Any, good: list[tuple[int, Any]], timeout: float, *,
             verbose: bool) -> tuple[list[dict[str, Any]], list[tuple[int, str]]] | str:
    """Produce every card keyed by building_id; (delivered records in file order, failed
    (line, why)), or why Kafka cannot take them (nothing was queued then)."""
    from hub.adapters.kafka import KafkaError, Message
    from hub.adapters.kafka.io import KafkaIOError, flush, kafka_problem, make_producer, produce
    from hub.observability.kafka_log import kafka_logger

    producer = make_producer(settings, **{"message.timeout.ms": int(timeout * 1000)},
                             logger=kafka_logger(verbose=verbose, level=logging.CRITICAL))
    problem = kafka_problem(producer, settings.bootstrap, REGISTRY_TOPIC,
                            timeout=min(10.0, timeout))
    if problem:
        return problem
    ok: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}

    def on_delivery(index: int, record: dict[str, Any]) -> Any:
        def callback(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                ok[index] = record
            else:
                failed[index] = err.str()
        return callback

    for index, (_, record) in enumerate(good):
        try:
            produce(producer, REGISTRY_TOPIC, codec.encode("building_identity", record),
                    key=str(record["building_id"]), headers={"kind": b"building_identity"},
                    on_delivery=on_delivery(index, record))
        except KafkaIOError as exc:
            failed[index] = str(exc)
    flush(producer, timeout + 10)
    for index in range(len(good)):
        if index not in ok and index not in failed:
            failed[index] = (f"not acknowledged within {timeout:g}s; is Kafka running at "
                             f"{settings.bootstrap}? (`hub stack status`)")
    return ([ok[i] for i in sorted(ok)],
            [(good[i][0], why) for i, why in sorted(failed.items())])


def _mirror(redis_url: str, records: list[dict[str, Any]]) -> str:
    """Write the delivered cards to Redis; the summary's tail. A failure is only a warning."""
    from redis import RedisError

    from hub.buildings.mirror import write_cards

    try:
        n = write_cards(redis_url, records)
    except (RedisError, OSError) as exc:
        print(f"hub buildings load: warning: Redis did not take the cards ({exc}); they are on "
              f"{REGISTRY_TOPIC}, and a running `hub worker` mirrors them to Redis (or run this "
              "again once Redis is up: `hub stack status`)", file=sys.stderr)
        return ", redis: not written"
    return f", redis: {n} written"


# -- qr ------------------------------------------------------------------------------------------


def gateway_base_url(settings: Settings) -> str:
    """http://host:port of ``hub gateway`` from the settings (HUB_GATEWAY_HOST / _PORT)."""
    host, port = settings.gateway_host, settings.gateway_port
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - listening on all: name the loopback
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def run_qr(args: argparse.Namespace) -> int:
    """Write the door plate's PNG; 0 when written, 2 when an argument or the output is unusable."""
    from hub.buildings.qr import lookup_url, write_qr_png

    problem = output_problem(args.out, "--out")
    if problem is None and str(args.out) != "-" and Path(args.out).suffix.lower() != ".png":
        problem = f"--out {args.out}: the plate is a PNG; give a name ending in .png"
    if problem is None and not args.building_id.strip():
        problem = "BUILDING_ID is empty; give the id of the card, e.g. BLDG-00001"
    if problem is None and (len(args.building_id) > MAX_ID_CHARS
                            or BAD_IN_ID.search(args.building_id)):
        problem = (f"BUILDING_ID: {len(args.building_id):,} characters or a control character;"
                   f" card ids are at most {MAX_ID_CHARS} printable characters")
    if problem is None and args.base_url and not args.base_url.startswith(("http://",
                                                                           "https://")):
        problem = (f"--base-url {args.base_url}: give an http:// or https:// URL, e.g. "
                   "https://hub.example.gov.cn")
    if problem:
        print(f"hub buildings qr: {problem}", file=sys.stderr)
        return EXIT_USAGE
    url = lookup_url(args.base_url or gateway_base_url(Settings.from_env()), args.building_id)
    try:
        size = write_qr_png(url, args.out)
    except OSError as exc:
        print(f"hub buildings qr: cannot write {args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out} ({size}x{size} px): {url}")
    return EXIT_OK
