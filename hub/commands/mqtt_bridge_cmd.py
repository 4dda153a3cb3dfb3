"""``hub mqtt-bridge``: the MQTT edge; devices' messages to Kafka, acknowledged once stored."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from hub.commands.argtypes import add_bootstrap, port, seconds_or_zero


def add_parser(sub: Any) -> None:
    """Register ``hub mqtt-bridge`` and its flags; the flags' help texts are its reference."""
    p = sub.add_parser(
        "mqtt-bridge", help="subscribe at the MQTT broker and produce devices' events to Kafka",
        description="Subscribe to the topic filters of topology/mqtt.yaml (HUB_MQTT_FILE) at "
        "HUB_MQTT_URL with the persistent session HUB_MQTT_CLIENT_ID; map interchange JSON, "
        "Hikvision ISAPI, Dahua event lines and GA/T 1400 notifications to the hub's topics; "
        "acknowledge a QoS 1 message only once Kafka stored it (docs/mqtt.md). SIGTERM stops it "
        "cleanly.")
    p.add_argument("--config", type=Path, default=None,
                   help="subscriptions file (default HUB_MQTT_FILE, topology/mqtt.yaml)")
    p.add_argument("--url", default=None, help="broker, mqtt://[user:pass@]host:port or "
                   "mqtts://... (default HUB_MQTT_URL, mqtt://127.0.0.1:1883)")
    p.add_argument("--client-id", default=None, help="the session's fixed client id (default "
                   "HUB_MQTT_CLIENT_ID, hub-mqtt-bridge); one bridge per id")
    add_bootstrap(p)
    p.add_argument("--metrics-port", type=port, default=None,
                   help="serve Prometheus metrics on this port (default: none)")
    p.add_argument("--metrics-host", default="127.0.0.1",
                   help="address of the metrics server (default 127.0.0.1)")
    p.add_argument("--drain-seconds", type=seconds_or_zero, default=10.0,
                   help="on SIGTERM, how long to wait for Kafka to store what is in flight "
                   "(what is not stored stays unacknowledged at the broker)")
    p.add_argument("--check", action="store_true",
                   help="read the subscriptions file, print the subscriptions and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serves the bridge until stopped; 2 on usage errors (bad subscriptions or broker settings)."""
    from hub.edge.mqtt_bridge import BrokerAddress
    from hub.edge.mqtt_subscriptions import load_subscriptions
    from hub.model.errors import ConfigError
    from hub.settings import Settings

    settings = Settings.from_env()
    if args.bootstrap:
        settings = dataclasses.replace(settings, bootstrap=args.bootstrap)
    path = args.config or settings.mqtt_file
    try:
        subscriptions = load_subscriptions(path)
        broker = BrokerAddress.parse(args.url or settings.mqtt_url)
    except ConfigError as exc:
        print(f"hub mqtt-bridge: {exc}", file=sys.stderr)
        return 2
    if args.check:
        for s in subscriptions:
            fixed = " ".join(f"{k}={v}" for k, v in s.fixed.items())
            print(f"{s.topic_filter:<40} qos {s.qos}  {s.format:<11} {s.pattern}  {fixed}".rstrip())
        return 0
    return _serve(args, settings, subscriptions, broker)


def _serve(args: argparse.Namespace, settings: Any, subscriptions: Any, broker: Any) -> int:
    import logging

    from prometheus_client import CollectorRegistry, start_http_server

    from hub.edge.mqtt_bridge import MqttBridge, make_client
    from hub.edge.sink import EdgeSink
    from hub.observability.edge_metrics import create_edge

    log = logging.getLogger(__name__)
    registry = CollectorRegistry()
    if args.metrics_port is not None:
        try:
            start_http_server(args.metrics_port, addr=args.metrics_host, registry=registry)
        except OSError as exc:
            print(f"hub mqtt-bridge: cannot serve metrics on {args.metrics_host}:"
                  f"{args.metrics_port} ({exc.strerror or exc}); pass --metrics-port with a free "
                  "port, or leave it out to serve no metrics", file=sys.stderr)
            return 2
        log.info("metrics on http://%s:%d/metrics", args.metrics_host, args.metrics_port)
    metrics = create_edge(registry, mqtt=True)
    sink = EdgeSink(settings, metrics=metrics)
    client_id = args.client_id or settings.mqtt_client_id
    bridge = MqttBridge(settings, subscriptions, sink, client=make_client(client_id, broker),
                        metrics=metrics)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("client %s at %s, Kafka at %s", client_id, broker, settings.bootstrap)
    bridge.start(broker)
    while not stop.wait(1.0):
        pass
    log.info("stopping: waiting up to %g s for Kafka", args.drain_seconds)
    report = bridge.stop(timeout=args.drain_seconds)
    left = sink.close(timeout=5.0)
    log.info("stopped; %d message(s) left unacknowledged, %d Kafka message(s) not "
             "flushed", report.unacknowledged, left)
    return 0
