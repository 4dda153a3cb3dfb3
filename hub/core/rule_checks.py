"""Advice on a loaded rule pack: rules that load and run, but not as their author may expect.

Unlike load errors (hub.core.rule_loading), these are warnings: the pack is valid and runs.
"""

from __future__ import annotations

from hub.core.durations import format_duration
from hub.core.rules import RulePack

#: A rule waits for the watermark of every source it reads, so it confirms only as fast as its
#: slowest one. Sources whose allowed lateness differs by at least this factor AND by at least
#: LATENESS_GAP_MS make a rule worth warning about (30s with 24h: yes; 30s with 2m: no, the
#: wait is short; 2h with 3h: no, the sources are alike).
LATENESS_RATIO = 10
LATENESS_GAP_MS = 10 * 60_000


def lateness_warnings(pack: RulePack) -> list[str]:
    """One line per rule that reads sources of very different allowed lateness (docs/rules.md,
    "Mixing slow and fast sources"): it names the file, the rule, the two sources with their
    lateness, what it means and what to do."""
    warnings = []
    for rule in pack.rules:
        seen: dict[str, str] = {}  # kind -> the first field of the rule that reads it
        for fld, matcher in rule.matchers:
            seen.setdefault(matcher.kind, fld)
        lateness = {kind: pack.policy(kind).lateness for kind in seen}
        slow = max(seen, key=lambda k: lateness[k])  # ties: the first one the rule names
        fast = min(seen, key=lambda k: lateness[k])
        if (lateness[slow] < LATENESS_RATIO * lateness[fast]
                or lateness[slow] - lateness[fast] < LATENESS_GAP_MS):
            continue
        slow_t, fast_t = _duration(lateness[slow]), _duration(lateness[fast])
        warnings.append(
            f"{rule.source_file}: rule {rule.id!r}: field '{seen[slow]}.kind': {slow} (lateness "
            f"{slow_t}) is read with {fast} (in {seen[fast]}, lateness {fast_t}); a rule waits "
            f"for its slowest source, so its incidents are confirmed only after {slow_t}; split "
            f"the rule by source, or lower {slow}'s lateness in the sources: section"
        )
    return warnings


def _duration(ms: int) -> str:
    """As sources.yaml writes it: 24h rather than 1d."""
    hour = 3_600_000
    if ms and ms % hour == 0 and ms < 48 * hour:
        return f"{ms // hour}h"
    return format_duration(ms)
