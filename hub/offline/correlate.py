"""Run the pure engine over interchange lines, exactly as the live worker would.

``building_identity`` lines load the registry as they come; source lines are decoded, validated
and fed to the engine in file order; the end of the file flushes the engine. Lines that cannot be
accepted (bad input, LATE) are reported with their line number, never dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hub.codec import Codec, load_codec, to_building, to_event
from hub.codec.interchange import Line
from hub.core.clock_skew import corrected
from hub.core.dedup import DedupLogic
from hub.core.early import EarlyCorrelation, early_engines
from hub.core.engine import CorrelationEngine, EngineStats, LateEvent
from hub.core.registry import MemoryBuildingRegistry
from hub.core.rules import RulePack
from hub.model.events import REGISTRY_KIND
from hub.model.incidents import CONFIRMED, PROVISIONAL, Incident
from hub.offline.inputs import read_input

T = TypeVar("T")


@dataclass
class Rejected:
    """A line the engine did not process, with the dead-letter reason."""

    lineno: int
    reason: str
    detail: str

    @classmethod
    def of(cls, line: Any) -> Rejected:
        """A line that did not read (``Line`` with an error, or none of kind and record): its
        reason, and the field and detail joined, as ``FILE:LINE: REASON: field: detail``."""
        err = line.error
        detail = ": ".join(p for p in (err.field, err.detail) if p) if err else "unreadable"
        return cls(line.lineno, err.reason if err else "DECODE_ERROR", detail)


@dataclass
class CorrelateSummary:
    """What one ``hub correlate`` run read and produced, for its report and exit status."""

    lines: int = 0
    events: int = 0
    buildings: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    stats: EngineStats = field(default_factory=EngineStats)
    incidents: int = 0  # versions emitted
    #: device_id -> events whose time was corrected to their arrival (a clock running ahead)
    future: Counter[str] = field(default_factory=Counter)


def correlate_lines(
    lines: Iterable[Line],
    pack: RulePack,
    summary: CorrelateSummary | None = None,
    *,
    early: bool = False,
    now: int | None = None,
) -> Iterator[Incident]:
    """Yield every incident version in emission order; fill ``summary`` as it goes.

    ``early``: the line order is the arrival order, and incidents come PROVISIONAL at arrival,
    CONFIRMED at the watermark and RETRACTED when late lines disprove them (hub.core.early),
    as operators would have seen them live. Without it, only the CONFIRMED versions, as always.
    ``now``: the arrival time of lines that do not carry their own (a recording's do); event
    times too far past the arrival are corrected, as the worker does (hub.core.clock_skew).
    """
    summary = summary if summary is not None else CorrelateSummary()
    registry = MemoryBuildingRegistry()
    engine: CorrelationEngine | EarlyCorrelation = (
        early_engines(pack, registry, dedup=DedupLogic()) if early
        else CorrelationEngine(pack, registry, dedup=DedupLogic()))
    for line in lines:
        summary.lines += 1
        if line.error is not None or line.kind is None or line.record is None:
            summary.rejected.append(Rejected.of(line))
            continue
        if line.kind == REGISTRY_KIND:
            registry.put(to_building(line.record))
            summary.buildings += 1
            continue
        if line.kind == "incident":
            summary.rejected.append(
                Rejected(line.lineno, "VALIDATION_ERROR", "an incident line is output, not input")
            )
            continue
        summary.events += 1
        event = to_event(line.kind, line.record,
                         arrived=line.arrived if line.arrived is not None else now)
        event, ahead = corrected(event, pack.future_ms[line.kind])
        if ahead:
            summary.future[str(event.get("device_id", ""))] += 1
        result = engine.process(event)
        for late in result.late:
            summary.rejected.append(Rejected(line.lineno, "LATE", describe_late(late)))
        summary.incidents += len(result.incidents)
        yield from result.incidents
    final = engine.flush()
    summary.incidents += len(final.incidents)
    yield from final.incidents
    summary.stats = engine.stats


def _supersedes(new: Incident, cur: Incident) -> bool:
    if new.status != cur.status:
        return new.status == CONFIRMED or cur.status == PROVISIONAL
    return new.version >= cur.version


def describe_late(late: LateEvent) -> str:
    """One line telling a person why ``late`` was rejected: which watermark it missed."""
    scope = f"rules {', '.join(late.rules)} had" if late.rules else "its source had"
    return (
        f"{late.event.kind} {late.event.event_id} at event_time {late.event.event_time} arrived "
        f"after {scope} moved past {late.watermark} (allowed lateness exceeded)"
    )


def correlate_file(
    path: Path | str,
    pack: RulePack,
    *,
    pseudonym_key: str,
    codec: Codec | None = None,
    summary: CorrelateSummary | None = None,
    early: bool = False,
    now: int | None = None,
    on_lines: Callable[[int], None] | None = None,
) -> Iterator[Incident]:
    """The incidents of an interchange file or a recording (hub.offline.inputs).

    ``on_lines(n)`` is told how many input lines were read, every 1,000 (a progress line).
    """
    codec = codec or load_codec()
    lines: Iterable[Any] = read_input(path, pseudonym_key=pseudonym_key, codec=codec)
    if on_lines is not None:
        lines = _counted(lines, on_lines)
    yield from correlate_lines(lines, pack, summary, early=early, now=now)


def _counted(items: Iterable[T], tell: Callable[[int], None], every: int = 1000) -> Iterator[T]:
    n = 0
    for item in items:
        yield item
        n += 1
        if n % every == 0:
            tell(n)


def final_versions(incidents: Iterable[Incident]) -> list[Incident]:
    """The last version of each incident, ordered by first evidence time then id.

    With statuses (``early``): a CONFIRMED version supersedes any PROVISIONAL one, a RETRACTED
    one ends its provisional versions; so the result is what an operator's list shows at the end.
    """
    last: dict[str, Incident] = {}
    for inc in incidents:
        cur = last.get(inc.incident_id)
        if cur is None or _supersedes(inc, cur):
            last[inc.incident_id] = inc
    return sorted(last.values(), key=lambda i: (i.first_event_time, i.rule_id, i.incident_id))
