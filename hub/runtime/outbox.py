"""Sends made while handling one batch, awaited together before the batch is acknowledged.

Faust acknowledges a ``take_events`` batch only after the loop body returns, so awaiting every
delivery here means an offset is never committed ahead of the incidents, dead letters, forwards
and state it produced: at-least-once, with nothing lost on a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from hub.codec import Codec, dead_letter_record
from hub.settings import DEADLETTER_TOPIC

Headers = Sequence[tuple[str, bytes]]


def headers_of(message: Any) -> dict[str, bytes]:
    raw = message.headers or ()
    items = raw.items() if isinstance(raw, dict) else raw
    return {str(k): (v if isinstance(v, bytes) else str(v).encode()) for k, v in items}


class Outbox:
    def __init__(self, app: Any, codec: Codec, worker_id: str) -> None:
        self.app, self.codec, self.worker_id = app, codec, worker_id
        self._topics: dict[str, Any] = {}
        self._pending: list[Any] = []

    def topic(self, name: str) -> Any:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name, key_serializer="raw", value_serializer="raw"
            )
        return self._topics[name]

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        fut = await self.topic(topic).send(
            key=key, value=value, headers=list(headers or ()), partition=partition
        )
        self._pending.append(fut)

    async def dead_letter(
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
        )
        headers_out = [("hub-reason", str(record["reason"]).encode())]
        if pseudonymized:
            fields = ",".join(pseudonymized)
            record["detail"] = (f"{record['detail']} (original_value re-encoded with raw personal "
                                f"values pseudonymized: {fields})")
            headers_out.append(("hub-pseudonymized", fields.encode()))
        body = self.codec.encode("dead_letter", record)
        reason = str(record["reason"])
        await self.send(DEADLETTER_TOPIC, key, body, headers_out)
        return reason

    async def flush(self) -> None:
        """Wait until every send of this batch is acknowledged by the broker (raises if not)."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
