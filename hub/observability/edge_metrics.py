"""The edge's metrics (``hub gateway``, ``hub mqtt-bridge``), declared once, registry injected.

Counts reconcile per channel and vendor: ``received = produced + rejected + skipped + failed``
(``hub_edge_events_total`` by outcome), so an operator sees at a glance whether a vendor's
devices are being heard and whether what they send is being stored.

The MQTT bridge's own metrics (``hub_mqtt_*``) answer what those counters cannot: is the bridge
connected, how many messages wait for Kafka (unacknowledged at the broker, so redelivered if the
bridge stops), how often Kafka refused. They are exposed only by the process that asks for them
(``create_edge(..., mqtt=True)``), so the gateway's /metrics shows no bridge gauge stuck at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: What became of one received event: stored on its topic; refused (a per-event error, its
#: payload on the dead-letter topic when nothing of it could be read); nothing to store (a
#: heartbeat, an alarm's end); not stored because Kafka did not acknowledge it in time.
OUTCOMES = ("produced", "rejected", "skipped", "failed")


@dataclass(frozen=True)
class EdgeMetrics:
    """The edge's (gateway, lookup, MQTT bridge) Prometheus metrics, declared once; see
    create_edge."""

    received: Counter
    events: Counter
    responses: Counter
    request_seconds: Histogram
    lookups: Counter
    mqtt_connected: Gauge
    mqtt_pending: Gauge
    mqtt_acked: Counter
    mqtt_retries: Counter
    mqtt_connects: Counter


def create_edge(registry: CollectorRegistry | None = None, prefix: str = "hub", *,
                mqtt: bool = False) -> EdgeMetrics:
    """Declare the edge metrics on ``registry`` (a fresh one when None, so tests never share
    counters); names start with ``prefix``. ``mqtt``: the MQTT bridge's metrics go on ``registry``
    too; without it they are kept on a registry of their own that nothing exposes."""
    reg = registry if registry is not None else CollectorRegistry()
    mqtt_reg = reg if mqtt else CollectorRegistry()
    p = prefix
    return EdgeMetrics(
        received=Counter(
            f"{p}_edge_received_total", "Events received at the edge, by channel (http, mqtt) "
            "and vendor (interchange, hikvision, dahua, gat1400)", ["channel", "vendor"],
            registry=reg),
        events=Counter(
            f"{p}_edge_events_total", "Received events by outcome (produced, rejected, skipped, "
            "failed)", ["channel", "vendor", "outcome"], registry=reg),
        responses=Counter(
            f"{p}_gateway_responses_total", "HTTP answers of hub gateway by route's vendor and "
            "status code", ["vendor", "status"], registry=reg),
        request_seconds=Histogram(
            f"{p}_gateway_request_seconds", "Time from request to answer, by vendor",
            ["vendor"], buckets=_BUCKETS, registry=reg),
        lookups=Counter(
            f"{p}_buildings_lookups_total", "楼宇身份证 lookups by outcome (found, unknown, "
            "unavailable)", ["outcome"], registry=reg),
        mqtt_connected=Gauge(
            f"{p}_mqtt_connected", "1 while the bridge holds a session at the broker",
            registry=mqtt_reg),
        mqtt_pending=Gauge(
            f"{p}_mqtt_pending_messages", "Messages received and not yet stored in Kafka (not "
            "acknowledged to the broker)", registry=mqtt_reg),
        mqtt_acked=Counter(
            f"{p}_mqtt_acked_total", "QoS 1 messages acknowledged to the broker, each after "
            "Kafka stored all of it", registry=mqtt_reg),
        mqtt_retries=Counter(
            f"{p}_mqtt_retries_total", "Attempts to store a message again after Kafka did not "
            "acknowledge it", registry=mqtt_reg),
        mqtt_connects=Counter(
            f"{p}_mqtt_connects_total", "Sessions opened at the broker, by whether the broker "
            "still had the session", ["session_present"], registry=mqtt_reg),
    )
