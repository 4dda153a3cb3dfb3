"""The rule model (hub.core.rules): lanes, risk tiers and per-source defaults of a pack."""

from __future__ import annotations

from hub.core.filters import compile_where
from hub.core.rules import (
    DEFAULT_IDLE_MS,
    SITE_LANE,
    Matcher,
    Rule,
    RulePack,
    SourcePolicy,
    Tier,
)


def rule(by: tuple[str, ...], tiers: tuple[Tier, ...] = (Tier(1, "LOW"),)) -> Rule:
    step = Matcher("access_swipe", {}, compile_where({}))
    return Rule(id="r", type="threshold", title="t", by=by, within=60_000, steps=(step,),
                tiers=tiers)


def test_site_local_keys_share_the_site_lane_and_others_get_their_own() -> None:
    assert rule(("site_id", "door_id")).lane == SITE_LANE
    assert rule(("credential_hash",)).lane == "by:credential_hash"
    pack = RulePack(rules=(rule(("door_id",)), rule(("grid_id", "site_id"))))
    assert pack.lanes == frozenset({SITE_LANE, "by:grid_id+site_id"})


def test_the_highest_tier_reached_is_the_risk() -> None:
    r = rule(("door_id",), (Tier(3, "MEDIUM"), Tier(5, "HIGH")))
    assert [r.risk_for(n) for n in (2, 3, 4, 5, 9)] == [None, "MEDIUM", "MEDIUM", "HIGH", "HIGH"]


def test_a_source_without_a_policy_gets_the_default_lateness() -> None:
    pack = RulePack(rules=(), sources={"access_swipe": SourcePolicy(5_000, 1_000)})
    assert pack.policy("access_swipe") == SourcePolicy(5_000, 1_000)
    assert pack.policy("grid_report") == SourcePolicy(86_400_000, DEFAULT_IDLE_MS)
    assert pack.policy("face_match").lateness == 30_000
