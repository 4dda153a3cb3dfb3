"""How a DISPUTE report unfolds over days: its statuses and their times, drawn from a model.

Used by the background (world.py) and by exact dispute plans (disputes.py); a module of its own
so that the world does not import the planners that import it.
"""

from __future__ import annotations

import random

from hub.replay.simulate.config import MINUTE_MS, DisputeModel


def dispute_history(rng: random.Random, model: DisputeModel, t: int,
                    outcome: str | None = None) -> list[tuple[str, int]]:
    """A dispute's (status, event time) history from ``t``, by ``model``.

    ``outcome`` forces how it ends: RESOLVED, UNRESOLVED or REPORTED (never accepted); None
    draws it from the model's rates. Times strictly increase.
    """
    if outcome is None:
        if rng.random() >= model.accept_rate:
            outcome = "REPORTED"
        else:
            outcome = "RESOLVED" if rng.random() < model.resolve_rate else "UNRESOLVED"
    history = [("REPORTED", t)]
    if outcome == "REPORTED":
        return history
    t += max(MINUTE_MS, model.to_accepted.draw_ms(rng))
    history.append(("ACCEPTED", t))
    if outcome == "UNRESOLVED" or rng.random() < model.mediate_rate:
        t += max(MINUTE_MS, model.to_mediating.draw_ms(rng))
        history.append(("MEDIATING", t))
    last = model.to_resolved if outcome == "RESOLVED" else model.to_unresolved
    t += max(MINUTE_MS, last.draw_ms(rng))
    history.append((outcome, t))
    return history
