"""The one vendor-mapping dispatch of the gateway and the MQTT bridge (hub.edge.vendor_mapping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.common import Site
from hub.edge.vendor_mapping import map_payload

ROOT = Path(__file__).resolve().parents[3]
HIK = ROOT / "connectors" / "hikvision_isapi" / "fixtures"
DAHUA = ROOT / "connectors" / "dahua" / "fixtures"
GAT = ROOT / "connectors" / "gat1400" / "fixtures"
SITE = Site("S-1", "Asia/Shanghai", "B-1")
KEY = "unit-pseudonym-key"


def test_hikvision_is_one_piece_mapped_skipped_or_failed_with_the_whole_payload() -> None:
    line = (HIK / "linedetection.xml").read_bytes()
    (piece,) = map_payload("hikvision", line, site=SITE, pseudonym_key=KEY).pieces
    assert piece.mapped is not None and piece.error is None and piece.raw == line
    beat = (HIK / "videoloss_heartbeat.xml").read_bytes()
    (piece,) = map_payload("hikvision", beat, site=SITE, pseudonym_key=KEY).pieces
    assert piece.mapped is None and piece.error is None
    (piece,) = map_payload("hikvision", b"<oops", site=SITE, pseudonym_key=KEY).pieces
    assert piece.error is not None and piece.raw == b"<oops"


def test_gat1400_pieces_carry_each_notification_s_own_bytes() -> None:
    body = (GAT / "disposition_bad_items.json").read_bytes()
    pieces = map_payload("gat1400", body, site=SITE, pseudonym_key=KEY).pieces
    assert len(pieces) > 1 and any(p.error is not None for p in pieces)
    assert all(p.raw != body for p in pieces) and pieces[4].raw == b'"not an object"'


def test_dahua_moves_the_pairing_state_and_a_payload_without_blocks_is_one_error() -> None:
    stream = (DAHUA / "stream.txt").read_bytes()
    out = map_payload("dahua", stream, site=SITE, pseudonym_key=KEY, device_id="D-1",
                      received_ms=1_714_574_500_000)
    assert any(p.mapped is not None for p in out.pieces)
    assert all(p.dahua_event is not None for p in out.pieces if p.error is None)
    empty = map_payload("dahua", b"\n\n", site=SITE, pseudonym_key=KEY, device_id="D-1",
                        dahua_open=out.dahua_open)
    (piece,) = empty.pieces
    assert piece.error is not None and piece.error.field == "Code" and piece.raw == b"\n\n"
    assert empty.dahua_open == out.dahua_open


def test_an_unknown_vendor_is_named() -> None:
    with pytest.raises(ValueError, match="'acme' has no mapping; use one of hikvision"):
        map_payload("acme", b"{}", site=SITE, pseudonym_key=KEY)
