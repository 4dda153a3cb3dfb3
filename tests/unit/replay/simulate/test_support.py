"""The independent rule checker the simulate tests trust (support.oracle)."""

from __future__ import annotations

from typing import Any

from tests.unit.replay.simulate.support import (
    M,
    S,
    oracle,
)


def test_oracle_sees_rules_at_their_edges() -> None:
    def swipe(
        eid: str, t: int, result: str, door: str = "d1", site: str = "s1", cred: str = "c"
    ) -> dict[str, Any]:
        return {
            "kind": "access_swipe",
            "event_id": eid,
            "event_time": t,
            "site_id": site,
            "door_id": door,
            "result": result,
            "credential_hash": cred,
        }

    assert oracle([swipe("g", 0, "GRANTED"), swipe("f", 10 * S, "FORCED_OPEN")]) == []
    assert len(oracle([swipe("g", 0, "GRANTED"), swipe("f", 31 * S, "FORCED_OPEN")])) == 1
    four = [swipe(f"x{i}", i * S, "DENIED") for i in range(4)]
    assert oracle(four) == []
    assert oracle([*four, swipe("x5", 2 * M, "DENIED")])[0]["risk"] == "MEDIUM"
    assert oracle([*four, swipe("x5", 2 * M + 4 * S, "DENIED")]) == []
    assert (
        len(oracle([swipe("a", 0, "GRANTED", site="s1"), swipe("b", 3 * M, "GRANTED", site="s2")]))
        == 1
    )
