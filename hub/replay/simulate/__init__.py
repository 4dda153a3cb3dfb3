"""A synthetic city for tests, demos and benchmarks: ``hub simulate``.

Pure: :func:`~hub.replay.simulate.simulator.simulate` returns the interchange lines (registry
first, then events in arrival order) and the ground-truth labels; the command writes them. The
same :class:`~hub.replay.simulate.config.SimConfig` always gives byte-identical output (one
seeded ``random.Random``, no set iteration, no wall clock).

What the city holds
    sites (小区) of 2-8 buildings; buildings with their 楼宇身份证 records; grids of about 300
    households grouped into townships and districts; 1-2 doors per building; 2-4 face cameras and
    2-5 perimeter zones (1-2 devices each) per site; 1-3 residents per household, each with a
    credential pseudonym ``p1:<32 hex>`` derived from the seed.

Background (never satisfies a default rule, by construction)
    residents' swipes with morning and evening peaks; visitors with one-off QR credentials, some
    followed by a tailgater; short DENIED bursts (at most 3, at least 3 min apart per door);
    FORCED_OPEN only 5-15 s after a GRANTED on the same door; false perimeter alarms (intrusion
    types only where no DENIED/FORCED_OPEN/TAILGATE follows at the site within 6 min) and flapping
    sensors; watchlist face matches below 0.90; registry lookups (at most 3 VISITOR lookups per
    building in any 30 min); grid reports with status updates (at most 2 DISPUTE reports per
    building in any 7 days); exact duplicate lines; out-of-order arrival within the allowed
    lateness (device events at most 25 s late, grid reports at most 6 h; one device's events in
    the order it made them unless ``reorder_devices``). No HELD_OPEN and no TAMPER at all: each is
    an incident by itself.

Injected situations (one label each)
    for every default rule, placed at a reserved site and time (no other situation within 45 min at
    that site, 8 days for a building's disputes) with exclusion zones that keep the background from
    joining or spoiling it. See :data:`~hub.replay.simulate.config.RULE_IDS`.

Where each part lives
    ``config`` (what to simulate), ``city`` (the places), ``world`` (the shared rng, state and
    event records), ``sink`` (arrival order, delays, duplicates), ``constraints`` (what keeps the
    background harmless), ``background``, ``situations``, ``disputes``, ``trends``, ``profile``
    (preset cities), ``draws`` (shared seeded draws) and ``simulator`` (the run, in order).
"""
