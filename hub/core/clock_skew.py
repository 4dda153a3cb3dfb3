"""Device clocks that run ahead: an event time is never trusted past the time the event arrived.

A camera without NTP that runs four minutes fast, or one alarm stamped 2099, used to push its
source's watermark forward and make every honest device's events LATE. Two rules keep
one bad clock from blinding the hub (docs/adr/0006-future-event-time.md):

- An event later than its arrival (the Kafka record timestamp) plus the source's tolerance
  (``future`` in topology/rules/sources.yaml, 60 s by default) is *corrected*: its event time
  becomes its arrival time. The event still counts (the alarm did fire, at about the time it
  reached us), and the correction is counted per device so the clock gets fixed. An estimated
  time is no evidence of progress, so it does not move the source's clock either: a file of
  last year's events produced today, one of them stamped 2099, loses nothing.
- Within the tolerance the event time stands, but the source's clock advances only as far as
  the arrival time (engine ``process``): a device a few seconds fast cannot make others LATE.

Offline the arrival is the recording's record timestamp, or the ``--now`` given to
``hub correlate``; with neither (a plain file) event times are taken as they are.
"""

from __future__ import annotations

from hub.model.events import MAX_TIME_MS, MIN_TIME_MS, Event

#: ``future`` in sources.yaml when not given.
DEFAULT_FUTURE_MS = 60_000


def ahead_by(event_time: int, arrived: int | None, tolerance: int) -> int:
    """How far (ms) ``event_time`` is past ``arrived`` + ``tolerance``; 0 when it is not."""
    if arrived is None:
        return 0
    return max(0, event_time - arrived - tolerance)


def arrived_at(timestamp_type: int, timestamp: int) -> int | None:
    """The arrival time of a Kafka record (confluent-kafka's ``timestamp()``), None if it has
    none (type 0) or an implausible one: a producer that stamps records in seconds (1.7e9 ms
    is January 1970) made every event of its "ahead" by 55 years, taken at 1970, and LATE."""
    return timestamp if timestamp_type and MIN_TIME_MS <= timestamp < MAX_TIME_MS else None


def corrected(event: Event, tolerance: int) -> tuple[Event, int]:
    """The event to process and how far (ms) past its arrival + ``tolerance`` it was (0: kept).

    An event that far ahead comes back with ``event_time`` (in its fields too) set to its
    arrival time and ``trusted_time`` False; any other event, or one whose arrival is unknown,
    comes back as it is. Online the correlator applies this (ingest only counts), offline
    ``hub correlate``: one rule, one place per path.
    """
    ahead = ahead_by(event.event_time, event.arrived, tolerance)
    if ahead == 0 or event.arrived is None:
        return event, 0
    fields = dict(event.fields)
    fields["event_time"] = event.arrived
    fixed = Event.from_record(event.kind, fields, arrived=event.arrived)
    object.__setattr__(fixed, "trusted_time", False)
    return fixed, ahead
