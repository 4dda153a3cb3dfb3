"""The internal message contract (hub/codec/internal.py): golden names, and defined only there."""

from __future__ import annotations

import ast
from pathlib import Path

from hub.codec import internal

HUB = Path(__file__).resolve().parents[3] / "hub"
HEADERS = {name: value for name, value in vars(internal).items()
           if name.endswith("_HEADER") and isinstance(value, str)}


def test_header_names_are_the_wire_names() -> None:
    # Golden: running workers and recorded topics carry these exact bytes.
    assert internal.FRAME_HEADER == "hub-frame"
    assert (internal.TICK_HEADER, internal.TICK_ORIGINS_HEADER, internal.TICK_PROGRESS_HEADER) == (
        "hub-tick", "hub-tick-origins", "hub-tick-progress")
    assert (internal.CONTROL_HEADER, internal.FLUSH) == ("hub-control", b"flush")
    assert (internal.SOURCE_HEADER, internal.LANE_HEADER, internal.KIND_HEADER,
            internal.EVENT_HEADER) == ("hub-src", "hub-lane", "hub-kind", "hub-event")
    assert all(v.startswith(internal.HUB_HEADER_PREFIX) for v in HEADERS.values())


def test_state_key_layout() -> None:
    assert internal.state_key(3, "l", ("R", "r1", "a|b")) == b"3|l|R|r1|a|b"
    assert internal.meta_key(3, "l") == b"3|l|meta"
    assert internal.early_key(0, "l") == b"0|l|early"
    assert internal.parse_state_key(b"3|l|R|r1|a|b") == ["3", "l", "R", "r1", "a|b"]
    assert internal.parse_state_key(internal.meta_key(7, "x")) == ["7", "x", "meta"]
    assert internal.chunk_key(b"k", 2) == b"k\x002"


def test_header_names_are_spelled_only_in_the_codec() -> None:
    """Every other module imports the names, so a rename cannot miss a reader."""
    wire = set(HEADERS.values())
    for path in sorted(HUB.rglob("*.py")):
        if path == HUB / "codec" / "internal.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = sorted({node.value for node in ast.walk(tree)
                        if isinstance(node, ast.Constant) and node.value in wire})
        assert not found, f"{path.relative_to(HUB)} spells {found}: import from hub.codec.internal"
