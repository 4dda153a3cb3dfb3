"""Asking Kafka whether a command can start, before it starts, without librdkafka's own noise."""

from __future__ import annotations

import logging

from hub.settings import Settings


def quiet_kafka_problem(settings: Settings, verbose: bool) -> str | None:
    """Why Kafka at ``settings.bootstrap`` cannot serve the command now (None: it can), asked
    by a probe whose librdkafka lines are hidden unless ``verbose``: without it `hub replay`
    and `hub analytics --live` printed a screenful of connection failures before their one
    sentence."""
    from hub.adapters.kafka.io import kafka_problem, make_producer
    from hub.observability.kafka_log import kafka_logger

    probe = make_producer(settings, logger=kafka_logger(verbose=verbose, level=logging.CRITICAL))
    try:
        return kafka_problem(probe, settings.bootstrap, timeout=10.0)
    finally:
        probe.flush(0)
