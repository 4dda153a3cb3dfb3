"""A SIGKILL while a batch's state writes are in flight leaves a prefix of them in the changelog.

The correlator (hub/runtime/correlator.py) writes per batch: each lane's changed states, then the
lane's meta (clocks, release bounds and the partition offset the lane is complete up to), then
the source marks, then the partition offset. Here the writes of a second batch are cut after the
lane's meta: the restarted correlator is handed the batch's messages again (they were never
committed) and must neither apply them twice nor call them LATE (the restored clocks are past
them). Seen in the crash loops: 55 LATE dead letters. Pure: a dict for the table, a list for the
outbox; the broker-level proof is tests/integration/test_worker_crash.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hub.codec import load_codec
from hub.core.registry import MemoryBuildingRegistry
from hub.observability.metrics import create
from hub.runtime.correlator import Correlator, StateTable
from hub.settings import SOURCE_TOPICS
from tests.unit.core.helpers import default_pack

CODEC = load_codec()
CHANGELOG = "app-engine-state-changelog"
T0 = 1_740_960_000_000


class FakeOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.dead: list[str] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: Any = None, partition: int | None = None) -> None:
        self.sent.append((topic, key, value))

    async def dead_letter(self, error: BaseException, **kwargs: Any) -> str:
        reason = str(getattr(error, "reason", "PROCESSING_ERROR"))
        self.dead.append(reason)
        return reason


def correlator(data: dict[bytes, bytes]) -> Correlator:
    table = SimpleNamespace(data=data, changelog_topic=SimpleNamespace(
        get_topic_name=lambda: CHANGELOG))
    # One source partition per kind, as a worker whose topics have one partition each.
    origins = {kind: [f"{topic}/0"] for kind, topic in SOURCE_TOPICS.items()}
    return Correlator(pack=default_pack(), codec=CODEC, registry=MemoryBuildingRegistry(),
                      table=StateTable(table), metrics=create(), origins=origins)


def alarm_message(offset: int, minute: int, *, at: int | None = None) -> Any:
    """The forward of source offset ``offset``, at correlate offset ``at`` (default the same)."""
    record = {"event_id": f"a-{offset}", "vendor": "dahua", "device_id": f"PA-{offset}",
              "site_id": "SITE-1", "event_time": T0 + minute * 60_000, "zone_id": "Z",
              "building_id": None, "alarm_type": "TAMPER", "severity": 4, "description": None}
    headers = [("hub-lane", b"site"), ("hub-src", f"hub.src.perimeter_alarm/0/{offset}".encode()),
               ("hub-kind", b"perimeter_alarm")]
    msg = SimpleNamespace(topic="hub.internal.correlate", partition=0,
                          offset=offset if at is None else at,
                          key=b"SITE-1", value=CODEC.encode("perimeter_alarm", record),
                          headers=headers, timestamp=None)
    return SimpleNamespace(message=msg)


def incidents_of(outbox: FakeOutbox) -> list[tuple[str, int]]:
    out = []
    for topic, _, value in outbox.sent:
        if topic == "hub.incidents" and value is not None:
            _, rec = CODEC.decode(value)
            out.append((rec["incident_id"], rec["version"]))
    return out


def test_a_batch_whose_writes_were_cut_after_the_lane_meta_is_not_applied_twice() -> None:
    first = [alarm_message(o, o) for o in range(3)]
    second = [alarm_message(o, o * 5) for o in range(3, 8)]  # minutes 15..35: past the lateness

    data: dict[bytes, bytes] = {}
    before = correlator(data)
    out1, out2 = FakeOutbox(), FakeOutbox()
    asyncio.run(before.handle_batch(first, out1))  # type: ignore[arg-type]
    asyncio.run(before.handle_batch(second, out2))  # type: ignore[arg-type]
    assert out1.dead == out2.dead == []
    writes = [(k, v) for topic, k, v in out2.sent if topic == CHANGELOG]
    cut = next(i for i, (k, _) in enumerate(writes) if k == b"0|site|meta") + 1
    assert any(k == b"0|offset" for k, _ in writes[cut:]), "the cut must drop the offset write"

    # The changelog as the killed worker left it: batch 1 whole, batch 2 up to the lane's meta.
    restored: dict[bytes, bytes] = {}
    for topic, k, v in out1.sent + [(CHANGELOG, k, v) for k, v in writes[:cut]]:
        if topic == CHANGELOG and k is not None:
            if v is None:
                restored.pop(k, None)
            else:
                restored[k] = v
    after = correlator(restored)
    again = FakeOutbox()
    asyncio.run(after.handle_batch(second, again))  # type: ignore[arg-type]
    assert again.dead == [], f"redelivered events reported {again.dead}"
    assert incidents_of(again) == []  # their incidents were published before the kill
    assert incidents_of(out2), "the second batch must have produced incidents"

    # Ingest had not committed either: it forwards a batch-2 event again, at a new offset. The
    # lane's source marks landed with its meta, so this is a repeat, not a LATE event.
    reforward = FakeOutbox()
    asyncio.run(after.handle_batch([alarm_message(5, 25, at=8)], reforward))  # type: ignore
    assert reforward.dead == [] and incidents_of(reforward) == []
