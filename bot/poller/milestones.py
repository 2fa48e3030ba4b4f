"""Which milestone reply a running operation needs next.

The record of those already announced is kept by :mod:`bot.service.notices`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from bot.notifications import Milestone

# "Slow" means a quarter longer than estimated: estimates are rough, a small overrun is normal.
SLOW_FACTOR = 1.25


def due_milestone(elapsed: timedelta, estimate: timedelta,
                  announced: Collection[Milestone]) -> Milestone | None:
    """The next milestone reply a running operation needs, if any (one per observation)."""
    if Milestone.STARTED not in announced:
        return Milestone.STARTED
    if Milestone.SLOW not in announced and elapsed > estimate * SLOW_FACTOR:
        return Milestone.SLOW
    return None
