"""The entry of ``hub simulate``: one run, from a :class:`SimConfig` to lines and labels.

It orders the parts (the city, then the planted situations, disputes and trends, then day by day
the background) and hands out the result, streamed (:class:`Simulator`) or whole
(:func:`simulate`). The parts live beside it in hub.replay.simulate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hub.replay.simulate.background import background_day, closing_report
from hub.replay.simulate.config import DAY_MS, SimConfig
from hub.replay.simulate.disputes import plan_disputes
from hub.replay.simulate.labels import Label, TrendLabel
from hub.replay.simulate.sink import dumps
from hub.replay.simulate.situations import plan_situations
from hub.replay.simulate.trends import plan_trends
from hub.replay.simulate.world import World


@dataclass(frozen=True)


class Simulation:
    """The result: registry lines, event lines (arrival order), labels, and counts by kind."""

    registry_lines: tuple[str, ...]
    event_lines: tuple[str, ...]
    labels: tuple[Label, ...]
    counts: dict[str, int]
    trends: tuple[TrendLabel, ...] = ()

    def label_lines(self) -> Iterator[str]:
        """The labels file: situations (by first event time), then the planted trends."""
        for label in self.labels:
            yield label.to_json()
        for trend in self.trends:
            yield trend.to_json()

    def lines(self) -> Iterator[str]:
        """The interchange file: registry lines first (the engine needs buildings before events),
        then events in arrival order."""
        yield from self.registry_lines
        yield from self.event_lines


class _Generator:
    """Plans the injected parts at once, then generates the days in order (:meth:`event_lines`)."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.world = World(cfg)
        if cfg.inject:
            plan_situations(self.world)
        if cfg.dispute_plan is not None:
            plan_disputes(self.world, cfg.dispute_plan)
        if cfg.trends:
            plan_trends(self.world, cfg.trends)

    def registry_lines(self) -> list[str]:
        buildings = sorted(self.world.city.buildings, key=lambda b: b.building_id)
        return [dumps(b.record) for b in buildings]

    def event_lines(self) -> Iterator[str]:
        """Generate day by day; a day's lines are released once nothing earlier can arrive."""
        world = self.world
        for day in range(self.cfg.days):
            day_start = world.start + day * DAY_MS
            for event in world.injected.get(day, ()):
                world.sink.emit(event)
            if self.cfg.background:
                background_day(world, day_start)
            elif day == self.cfg.days - 1:
                closing_report(world, day_start)
            yield from world.sink.drain_before(day_start + DAY_MS)
        yield from world.sink.drain_before(None)

    def sorted_labels(self) -> tuple[Label, ...]:
        labels = self.world.labels
        return tuple(sorted(labels, key=lambda x: (x.first_event_time, x.rule_id, x.key)))


class Simulator:
    """Streaming form for big runs: labels are known at once, lines are made while iterated.

    ``counts`` (events by kind, duplicates, situations) is complete once :meth:`lines` is exhausted.
    """

    def __init__(self, cfg: SimConfig) -> None:
        self._gen = _Generator(cfg)
        self.labels: tuple[Label, ...] = self._gen.sorted_labels()
        self.trends: tuple[TrendLabel, ...] = tuple(sorted(
            self._gen.world.trend_labels, key=lambda x: (x.week_start, x.area_code, x.case_type)))

    def lines(self) -> Iterator[str]:
        """The interchange file, generated while iterated: registry lines first, then events."""
        yield from self._gen.registry_lines()
        yield from self._gen.event_lines()

    @property
    def counts(self) -> dict[str, int]:
        """Events by kind, duplicates, situations and trends; complete only once lines() is
        exhausted."""
        counts = dict(sorted(self._gen.world.sink.counts.items()))
        counts["situations"] = len(self.labels)
        if self.trends:
            counts["trends"] = len(self.trends)
        return counts

    def label_lines(self) -> Iterator[str]:
        """The labels file: situations (by first event time), then the planted trends."""
        for label in self.labels:
            yield label.to_json()
        for trend in self.trends:
            yield trend.to_json()


def simulate(cfg: SimConfig) -> Simulation:
    """Generate the city, its background and its injected situations (pure, deterministic)."""
    sim = Simulator(cfg)
    registry = tuple(sim._gen.registry_lines())
    events = tuple(sim._gen.event_lines())
    return Simulation(registry, events, sim.labels, sim.counts, sim.trends)
