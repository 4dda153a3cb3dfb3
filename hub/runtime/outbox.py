"""What one batch sends: forwards, incidents, state entries, ticks and dead letters.

Every send goes through the worker's transactional producer inside the batch's transaction
(hub/runtime/pipeline.py), so all of them become visible together with the batch's consumed
offsets, or none of them does: nothing is acknowledged that was not stored, and nothing stored
is stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hub.codec import Codec, dead_letter_record
from hub.codec.internal import PSEUDONYMIZED_HEADER, REASON_HEADER, SEALED_HEADER
from hub.settings import DEADLETTER_TOPIC

Headers = Sequence[tuple[str, bytes]]


def headers_of(message: Any) -> dict[str, bytes]:
    """A confluent-kafka message's headers as a dict (last value wins)."""
    raw = message.headers() or ()
    return {str(k): (v if isinstance(v, bytes) else str(v or "").encode()) for k, v in raw}


class Deferred:
    """Stands in for the producer while the previous batch's transaction is still committing
    (a producer has one open transaction): keeps the sends, and ``replay`` puts them in the
    next transaction once it is open."""

    def __init__(self) -> None:
        self.sends: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        """Keep one send."""
        self.sends.append((topic, kwargs))

    def poll(self, timeout: float = 0) -> int:
        """Nothing is queued in a client: nothing to drain."""
        return 0

    def replay(self, producer: Any) -> int:
        """Queue every kept send in ``producer``'s open transaction, in order; how many."""
        for topic, kwargs in self.sends:
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.05)
        return len(self.sends)


class Outbox:
    """Sends of one batch on a (transactional) confluent-kafka producer."""

    def __init__(self, producer: Any, codec: Codec, worker_id: str) -> None:
        self.producer, self.codec, self.worker_id = producer, codec, worker_id
        self.sent = 0

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        """Queue one message in the open transaction; a full local queue is drained by
        serving delivery reports, never by dropping the message."""
        kwargs: dict[str, Any] = {"key": key, "value": value}
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self.producer.poll(0.05)
        self.sent += 1

    def dead_letter(
        self,
        error: BaseException,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
        timestamp_ms: int | None = None,
        source_kind: str | None = None,
        pseudonymized: Sequence[str] = (),
        sealed: bool = False,
        pseudonym_key: bytes | str | None = None,
    ) -> str:
        """Put the original message on the dead-letter topic; returns the reason.

        The message is untouched unless ``pseudonymized`` names personal fields whose raw values
        were replaced (see ``Ingestor.kept_for_dead_letter``): the detail and the
        ``hub-pseudonymized`` header say which.
        """
        record = dead_letter_record(
            error,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            headers=list(headers or ()),
            time_ms=int(time.time() * 1000),
            timestamp_ms=timestamp_ms,
            source_kind=source_kind,
            worker_id=self.worker_id,
            sealed=sealed,
            pseudonym_key=pseudonym_key,
        )
        headers_out = [(REASON_HEADER, str(record["reason"]).encode())]
        if pseudonymized:
            fields = ",".join(pseudonymized)
            record["detail"] = (f"{record['detail']} (original_value re-encoded with raw personal "
                                f"values pseudonymized: {fields})")
            headers_out.append((PSEUDONYMIZED_HEADER, fields.encode()))
        if sealed:
            record["detail"] = (f"{record['detail']} (original_value sealed with the dead-letter "
                                "key: bytes that do not decode could hide a raw personal value; "
                                "`hub consume hub.deadletter --unseal` with HUB_DEADLETTER_KEY)")
            headers_out.append((SEALED_HEADER, b"1"))
        body = self.codec.encode("dead_letter", record)
        # keyed by the key as kept (personal numbers pseudonymized): a vendor keying its
        # messages by a phone number put the number on hub.deadletter (an outside probe)
        self.send(DEADLETTER_TOPIC, record["original_key"], body, headers_out)
        return str(record["reason"])
