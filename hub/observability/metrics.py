"""Every metric of the hub, declared once (``create``), with the registry injected.

Names follow ``hub_<area>_<thing>_<unit>``; durations are seconds with buckets from 1 ms to 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Event time to publication: provisional in about a second, confirmed after the lateness (30 s
#: by default; 24 h for grid reports)
_DELAY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 35.0, 60.0, 120.0, 600.0, 3600.0,
                  86400.0)


@dataclass(frozen=True)
class HubMetrics:
    """The worker's Prometheus metrics, declared once (see create) so names and buckets live in one
    place."""

    ingest_events: Counter
    dead_letters: Counter
    future_events: Counter
    duplicates: Counter
    incident_versions: Counter
    incident_statuses: Counter
    incident_delay: Histogram
    incidents_unrouted: Counter
    late_events: Counter
    suppressed_events: Counter
    foreign_messages: Counter
    state_keys: Gauge
    watermark_lag: Gauge
    batch_seconds: Histogram
    redis_errors: Counter
    registry_buildings: Gauge
    registry_rejected: Counter
    consumer_lag: Gauge


def create(registry: CollectorRegistry | None = None, prefix: str = "hub") -> HubMetrics:
    """Declare the metrics on ``registry`` (a fresh one per worker and per test)."""
    reg = registry if registry is not None else CollectorRegistry()
    p = prefix
    return HubMetrics(
        ingest_events=Counter(
            f"{p}_ingest_events_total", "Source messages by kind and outcome "
            "(accepted, duplicate, dead_letter, no_rule)", ["kind", "outcome"], registry=reg),
        dead_letters=Counter(
            f"{p}_deadletter_messages_total", "Messages sent to the dead-letter topic, by reason",
            ["reason"], registry=reg),
        future_events=Counter(
            f"{p}_ingest_future_events_total", "Events stamped further past their arrival in "
            "Kafka than the source allows (a device clock running ahead), their event time "
            "taken as the arrival, by kind and device", ["kind", "device_id"], registry=reg),
        duplicates=Counter(
            f"{p}_dedup_duplicates_total", "Exact duplicates dropped (same kind and event_id)",
            ["kind"], registry=reg),
        incident_versions=Counter(
            f"{p}_incident_versions_total", "Incident versions published, by rule and risk level",
            ["rule_id", "risk_level"], registry=reg),
        incident_statuses=Counter(
            f"{p}_incident_status_versions_total", "Incident versions published, by rule and "
            "status (PROVISIONAL, CONFIRMED, RETRACTED)", ["rule_id", "status"], registry=reg),
        incident_delay=Histogram(
            f"{p}_incident_delay_seconds", "Wall time from an incident's event time (its "
            "completing evidence or deadline) to its first PROVISIONAL or CONFIRMED version",
            ["rule_id", "status"], buckets=_DELAY_BUCKETS, registry=reg),
        incidents_unrouted=Counter(
            f"{p}_incident_unrouted_total", "Incident versions whose department is unknown "
            "(building not in the registry)", ["rule_id"], registry=reg),
        late_events=Counter(
            f"{p}_correlate_late_events_total", "Events behind the watermark (to dead letters)",
            ["kind"], registry=reg),
        suppressed_events=Counter(
            f"{p}_correlate_suppressed_events_total", "Repeats suppressed (e.g. flapping alarms)",
            registry=reg),
        foreign_messages=Counter(
            f"{p}_correlate_foreign_messages_total", "Frames and ticks of another app id (another "
            "hub on this broker) skipped on the correlation topic", registry=reg),
        state_keys=Gauge(
            f"{p}_correlate_state_keys", "Live (rule, key) states held, per partition",
            ["partition"], registry=reg),
        watermark_lag=Gauge(
            f"{p}_correlate_event_time_lag_seconds", "Wall time minus newest event time seen, "
            "per source kind", ["kind"], registry=reg),
        batch_seconds=Histogram(
            f"{p}_agent_batch_seconds", "Time to process one batch, per agent", ["agent"],
            buckets=_BUCKETS, registry=reg),
        redis_errors=Counter(
            f"{p}_redis_errors_total", "Redis operations that failed (dedup falls back)",
            ["operation"], registry=reg),
        registry_buildings=Gauge(
            f"{p}_registry_buildings", "Buildings (楼宇身份证) held in the registry cache",
            registry=reg),
        registry_rejected=Counter(
            f"{p}_registry_rejected_total", "Records on the registry topic not taken (do not "
            "decode, not a building card, or break the card's rules); each logged with why",
            registry=reg),
        consumer_lag=Gauge(
            f"{p}_consumer_lag_messages", "End offset minus the worker's position, per "
            "topic partition it owns (set at each tick)",
            ["topic", "partition"], registry=reg),
    )
