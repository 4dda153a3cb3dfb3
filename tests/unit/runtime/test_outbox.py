"""The batch's outbox (hub/runtime/outbox.py) without Kafka: what a dead letter is sent as."""

from __future__ import annotations

from hub.codec import load_codec
from hub.core.pseudonym import pseudonymize
from hub.model.errors import DecodeError
from hub.runtime.outbox import Outbox
from hub.settings import DEADLETTER_TOPIC
from tests.unit.runtime.producer_sink import Sink

CODEC = load_codec()


def test_a_dead_letter_is_keyed_by_its_key_with_personal_numbers_pseudonymized() -> None:
    """A vendor keying its messages by a phone number: the letter's original_key was scrubbed,
    but the Kafka message carried the raw number as its key (an outside probe)."""
    sink = Sink()
    Outbox(sink, CODEC, "w").dead_letter(
        DecodeError("not Avro"), topic="hub.src.perimeter_alarm", partition=3, offset=0,
        key=b"13911118888", value=b"\xff junk", headers=[], pseudonym_key="pk", sealed=False)
    [(topic, kwargs)] = sink.sent
    hidden = pseudonymize("13911118888", "pk").encode()
    assert topic == DEADLETTER_TOPIC and kwargs["key"] == hidden
    _, record = CODEC.decode(kwargs["value"])
    assert record["original_key"] == hidden
