"""The MQTT bridge's own metrics, beside the edge's (``edge_metrics``: received and outcomes by
channel ``mqtt`` and vendor), declared once, registry injected.

They answer what the edge counters cannot: is the bridge connected, how many messages wait for
Kafka (unacknowledged at the broker, so redelivered if the bridge stops), how often Kafka refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class MqttMetrics:
    """The MQTT bridge's Prometheus metrics, declared once; see create_mqtt."""

    connected: Gauge
    pending: Gauge
    acked: Counter
    retries: Counter
    connects: Counter


def create_mqtt(registry: CollectorRegistry | None = None, prefix: str = "hub") -> MqttMetrics:
    """Declare the MQTT bridge metrics on ``registry`` (a fresh one when None, so tests never share
    counters); names start with ``prefix``."""
    reg = registry if registry is not None else CollectorRegistry()
    p = prefix
    return MqttMetrics(
        connected=Gauge(f"{p}_mqtt_connected", "1 while the bridge holds a session at the "
                        "broker", registry=reg),
        pending=Gauge(f"{p}_mqtt_pending_messages", "Messages received and not yet stored in "
                      "Kafka (not acknowledged to the broker)", registry=reg),
        acked=Counter(f"{p}_mqtt_acked_total", "QoS 1 messages acknowledged to the broker, each "
                      "after Kafka stored all of it", registry=reg),
        retries=Counter(f"{p}_mqtt_retries_total", "Attempts to store a message again after "
                        "Kafka did not acknowledge it", registry=reg),
        connects=Counter(f"{p}_mqtt_connects_total", "Sessions opened at the broker, by whether "
                         "the broker still had the session", ["session_present"], registry=reg),
    )
