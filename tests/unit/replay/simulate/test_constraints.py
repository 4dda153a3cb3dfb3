"""The background's bookkeeping (hub.replay.simulate.constraints): windows and exclusion zones."""

from __future__ import annotations

from hub.replay.simulate.constraints import Z_BAD, Z_ENTRY, Z_INTRUSION, Index, Zones


def test_index_counts_times_in_a_closed_window_per_key() -> None:
    index = Index()
    for t in (30, 10, 20):
        index.add("site", t)
    assert index.times["site"] == [10, 20, 30]
    assert index.count("site", 10, 20) == 2
    assert index.count("site", 11, 29) == 1
    assert index.count("other", 0, 100) == 0


def test_zones_block_by_flag_and_overlap_by_span() -> None:
    zones = Zones()
    zones.add("site", 100, 200, Z_INTRUSION | Z_BAD)
    assert zones.blocks("site", 150, Z_BAD)
    assert not zones.blocks("site", 150, Z_ENTRY)  # another flag passes
    assert zones.blocks("site", 200)  # no flag: any zone, ends included
    assert not zones.blocks("site", 201) and not zones.blocks("other", 150)
    assert zones.overlaps("site", 190, 300) and zones.overlaps("site", 0, 100)
    assert not zones.overlaps("site", 201, 300) and not zones.overlaps("other", 0, 999)
