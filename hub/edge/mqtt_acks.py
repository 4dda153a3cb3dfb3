"""When ``hub mqtt-bridge`` may acknowledge a message to the broker: in order, once stored.

Kept apart from the mapping (hub.edge.mqtt_routes) because it is the bridge's delivery
guarantee, not a question of content: a message is acknowledged only after Kafka has every
piece of it, and never ahead of one that came before it. Pure (the bridge holds the lock).
"""

from __future__ import annotations

from collections import deque
from typing import Any


class AckOrder:
    """PUBACKs leave in the order the PUBLISHes came (MQTT 3.1.1 §4.6 asks it of a client), and
    only for messages whose every piece Kafka stored: a message settled early waits for the ones
    before it. Not thread-safe: the bridge holds its lock around it.

    Tickets are sequence numbers, not packet ids: a broker reuses a packet id once acknowledged.
    """

    def __init__(self) -> None:
        self._next = 0
        self._queue: deque[list[Any]] = deque()  # [ticket, mid, qos, settled]

    def received(self, mid: int, qos: int) -> int:
        """A message came in; its ticket (QoS 0 ones need no answer and do not wait)."""
        ticket = self._next
        self._next += 1
        if qos > 0:
            self._queue.append([ticket, mid, qos, False])
        return ticket

    def settle(self, ticket: int) -> list[tuple[int, int]]:
        """Message ``ticket`` is stored; the (mid, qos) that may be acknowledged now, in order."""
        for entry in self._queue:
            if entry[0] == ticket:
                entry[3] = True
                break
        ready: list[tuple[int, int]] = []
        while self._queue and self._queue[0][3]:
            _, mid, qos, _ = self._queue.popleft()
            ready.append((mid, qos))
        return ready

    def reset(self) -> int:
        """The connection is gone: none of these may be acknowledged any more (the broker sends
        them again on the next connection); how many were waiting."""
        waiting = len(self._queue)
        self._queue.clear()
        return waiting

    def __len__(self) -> int:
        return len(self._queue)
