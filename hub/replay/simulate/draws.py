"""The seeded draws every part of the simulation shares (pseudonyms, Poisson counts, weights).

They take the one ``random.Random`` as a parameter and never keep state, so the order of calls
alone decides the output.
"""

from __future__ import annotations

import math
import random


def pseudonym(rng: random.Random) -> str:
    """A credential or person pseudonym in the hub's ``p1:<32 hex>`` form, drawn from the seed."""
    return f"p1:{rng.getrandbits(128):032x}"


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    """One value of ``table`` drawn by its integer weight."""
    total = sum(w for _, w in table)
    r = rng.random() * total
    for value, w in table:
        r -= w
        if r < 0:
            return value
    return table[-1][0]
