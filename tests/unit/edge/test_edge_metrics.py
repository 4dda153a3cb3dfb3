"""The edge's metrics: declared once, names unchanged, bridge metrics only where it runs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from hub.observability.edge_metrics import create_edge

EDGE = ("hub_edge_received_total", "hub_edge_events_total", "hub_gateway_responses_total",
        "hub_gateway_request_seconds", "hub_buildings_lookups_total")
MQTT = ("hub_mqtt_connected", "hub_mqtt_pending_messages", "hub_mqtt_acked_total",
        "hub_mqtt_retries_total", "hub_mqtt_connects_total")


def _exposed(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_the_bridge_exposes_edge_and_mqtt_metrics_under_their_names() -> None:
    registry = CollectorRegistry()
    metrics = create_edge(registry, mqtt=True)
    metrics.mqtt_connects.labels("true").inc()
    metrics.mqtt_acked.inc(3)
    text = _exposed(registry)
    for name in (*EDGE, *MQTT):
        assert f"# HELP {name} " in text, name
    assert 'hub_mqtt_connects_total{session_present="true"} 1.0' in text
    assert "hub_mqtt_acked_total 3.0" in text


def test_the_gateway_exposes_no_mqtt_metrics() -> None:
    registry = CollectorRegistry()
    metrics = create_edge(registry)
    metrics.mqtt_pending.set(5)  # usable, but not on the exposed registry
    assert "hub_mqtt_" not in _exposed(registry)
