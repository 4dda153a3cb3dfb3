"""The cards Redis serves: ``hub:building:{building_id}`` -> the card as JSON.

The JSON is ``Building.to_record()``, exactly what the worker's registry reader mirrors
(hub/runtime/registry_reader.py), so a card written by ``hub buildings load`` and one written by
a worker read the same. Kafka (hub.registry.building) stays the source of truth: Redis is a
cache that a worker rebuilds from the topic, which is why a Redis outage here is a warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from hub.model.events import Building

CARD_KEY_PREFIX = "hub:building:"


def card_key(building_id: str) -> str:
    """The Redis key of a building's card: the one place the key layout is spelled."""
    return f"{CARD_KEY_PREFIX}{building_id}"


def card_json(record: Mapping[str, Any]) -> str:
    """The mirror's JSON of a BuildingIdentity record (non-ASCII kept, as the worker does)."""
    return json.dumps(Building.from_record(record).to_record(), ensure_ascii=False)


def write_cards(redis_url: str, records: Iterable[Mapping[str, Any]],
                timeout: float = 2.0) -> int:
    """SET every card in one pipeline (file order: a later row of the same building wins, as
    on the compacted topic); the number written. Raises ``redis.RedisError`` when Redis does
    not answer within ``timeout`` seconds."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py's default backs off for seconds on a refused connection, and a
    # loader told "Redis is down" at once is more use than one that hangs.
    client = redis.Redis.from_url(redis_url, socket_timeout=timeout,
                                  socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
    try:
        pipe = client.pipeline(transaction=False)
        n = 0
        for record in records:
            pipe.set(card_key(str(record["building_id"])), card_json(record))
            n += 1
        if n:
            pipe.execute()
        return n
    finally:
        client.close()
