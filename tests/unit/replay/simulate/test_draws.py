"""The shared seeded draws (hub.replay.simulate.draws): pseudonyms, Poisson counts, weights."""

from __future__ import annotations

import random
import re
from collections import Counter

from hub.replay.simulate.draws import poisson, pseudonym, weighted


def test_a_pseudonym_has_the_hub_format_and_follows_the_seed() -> None:
    a, b = pseudonym(random.Random(3)), pseudonym(random.Random(3))
    assert a == b and re.fullmatch(r"p1:[0-9a-f]{32}", a)
    assert pseudonym(random.Random(4)) != a


def test_poisson_counts_average_their_mean() -> None:
    rng = random.Random(1)
    draws = [poisson(rng, 2.0) for _ in range(5_000)]
    assert min(draws) == 0 and abs(sum(draws) / len(draws) - 2.0) < 0.1
    assert poisson(random.Random(1), 0.0) == 0


def test_weighted_draws_follow_their_weights_and_skip_zero() -> None:
    rng = random.Random(2)
    counts = Counter(weighted(rng, (("a", 3), ("b", 1), ("never", 0))) for _ in range(4_000))
    assert "never" not in counts
    assert 2.6 < counts["a"] / counts["b"] < 3.4
