"""The edge's metrics (``hub gateway``, ``hub mqtt-bridge``), declared once, registry injected.

Counts reconcile per channel and vendor: ``received = produced + rejected + skipped + failed``
(``hub_edge_events_total`` by outcome), so an operator sees at a glance whether a vendor's
devices are being heard and whether what they send is being stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: What became of one received event: stored on its topic; refused (a per-event error, its
#: payload on the dead-letter topic when nothing of it could be read); nothing to store (a
#: heartbeat, an alarm's end); not stored because Kafka did not acknowledge it in time.
OUTCOMES = ("produced", "rejected", "skipped", "failed")


@dataclass(frozen=True)
class EdgeMetrics:
    """The edge's (gateway and lookup) Prometheus metrics, declared once; see create_edge."""

    received: Counter
    events: Counter
    responses: Counter
    request_seconds: Histogram
    lookups: Counter


def create_edge(registry: CollectorRegistry | None = None, prefix: str = "hub") -> EdgeMetrics:
    """Declare the edge metrics on ``registry`` (a fresh one when None, so tests never share
    counters); names start with ``prefix``."""
    reg = registry if registry is not None else CollectorRegistry()
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
    )
