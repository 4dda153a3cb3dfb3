"""Registry records the worker cannot take go to the dead-letter topic, once each.

Every worker reads the whole building registry for enrichment (hub/runtime/registry_reader.py)
and skips a record it cannot read there: raised, one bad record would stop every batch of every
worker for as long as compaction keeps it. Skipped and only logged, it was lost unsaid, against
"every input is processed or dead-lettered". So the registry topic is also in the worker group's
subscription: each of its records reaches one member once, inside a batch transaction, and that
member puts the records that do not read on the dead-letter topic with their bytes and the
reason. The committed offsets make it once across workers, rebalances and restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hub.codec import Codec
from hub.codec.interchange import pii_fields, scrubbed_fields
from hub.core.pseudonym import scrub_fields
from hub.model.errors import RecordError, ValidationError
from hub.model.events import REGISTRY_KIND, Building
from hub.observability.metrics import HubMetrics
from hub.runtime.outbox import Outbox, headers_of

#: What a dead letter keeps of a value: (bytes, the personal fields pseudonymized, sealed);
#: ``Ingestor.kept_for_dead_letter``.
KeepFn = Callable[[bytes | None], tuple[bytes | None, list[str], bool]]


def read_card(codec: Codec, key: bytes | None, value: bytes | None,
              pseudonym_key: str | None = None) -> Building | str:
    """A registry record as the registry takes it: the card, or the building id a tombstone
    removes. Raises RecordError (naming the field) for anything else. ``pseudonym_key``: the
    card's free text (name, address) with personal numbers pseudonymized, as `hub buildings`
    writes it: a card another producer wrote must not carry a raw number into incidents'
    building snapshots (an outside probe's "3号楼 管理员 13977770003")."""
    if value is None:  # tombstone: the building left the registry
        try:
            building_id = (key or b"").decode()
        except UnicodeDecodeError:
            building_id = ""
        if not building_id:
            raise ValidationError(
                f"a registry tombstone (no value) removes the building its key names: the key "
                f"must be a building id in UTF-8; got {(key or b'')[:64]!r}", field="key")
        return building_id
    kind, record = codec.decode(value)
    if kind != REGISTRY_KIND:
        raise ValidationError(f"{kind} record on the registry topic; only {REGISTRY_KIND} "
                              "cards go there (`hub buildings load` writes them)", field="kind")
    # the card's rules as `hub buildings` checks them: a card produced to the topic directly
    # (a 100 kB name, a bidi override in grid_id, an empty district_code) was taken, and its
    # incidents came out unrouted
    codec.check_rules(kind, record)
    if pseudonym_key is not None:
        record = scrub_fields(record, pseudonym_key, scrubbed_fields(codec.schema(kind)))
    try:
        card = Building.from_record(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"not a building card: {exc}", field="building_id") from exc
    if key is not None and key != card.building_id.encode():
        # the topic is compacted by key: this key would then hold another building's card
        raise ValidationError(
            f"the card of {card.building_id!r} is keyed {key[:64]!r}: a registry record's key "
            "must be its building_id (`hub buildings load` keys them so)", field="key")
    return card


class RegistryCheck:
    """Dead-letters the registry records of a batch that the registry cannot take."""

    def __init__(self, codec: Codec, metrics: HubMetrics, keep: KeepFn,
                 pseudonym_key: str) -> None:
        self.codec, self.metrics, self.keep = codec, metrics, keep
        self.pseudonym_key = pseudonym_key
        schema = codec.schema(REGISTRY_KIND)
        #: a card has no field pseudonymized whole; these free-text ones are scrubbed
        self._card_text = pii_fields(schema) | scrubbed_fields(schema)

    def handle_batch(self, messages: Sequence[Any], outbox: Outbox) -> int:
        """Check each record (confluent-kafka messages); how many were dead-lettered."""
        bad = 0
        for msg in messages:
            value = msg.value()
            try:
                read_card(self.codec, msg.key(), value)
                continue
            except RecordError as exc:
                error: BaseException = exc
            except Exception as exc:  # whatever it is, this record's alone
                error = exc
            kept, pseudonymized, sealed = self._kept(value)
            ts_type, ts = msg.timestamp()
            reason = outbox.dead_letter(
                error, topic=msg.topic(), partition=msg.partition(), offset=msg.offset(),
                key=msg.key(), value=kept, headers=list(headers_of(msg).items()),
                timestamp_ms=ts if ts_type and ts > 0 else None, source_kind=REGISTRY_KIND,
                pseudonymized=pseudonymized, sealed=sealed, pseudonym_key=self.pseudonym_key)
            self.metrics.dead_letters.labels(reason).inc()
            bad += 1
        return bad

    def _kept(self, value: bytes | None) -> tuple[bytes | None, list[str], bool]:
        """A card readable, with the personal numbers in its free text pseudonymized (then
        re-encoded); anything else as ingest keeps it (sources with their personal fields
        pseudonymized, bytes that do not decode or are no input sealed)."""
        if value:
            try:
                kind, record = self.codec.decode(value)
            except Exception:
                kind, record = None, {}
            if kind == REGISTRY_KIND:
                clean = scrub_fields(record, self.pseudonym_key, self._card_text)
                changed = sorted(n for n in self._card_text if clean.get(n) != record.get(n))
                return (self.codec.encode(kind, clean) if changed else value), changed, False
        return self.keep(value)


__all__ = ["RegistryCheck", "read_card"]
