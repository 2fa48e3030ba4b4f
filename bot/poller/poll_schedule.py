"""When to look at an operation next: the poll interval, Azure's hint, or back-off."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.backoff import MIN_DELAY, backoff_delay


@dataclass(frozen=True)
class PollSchedule:
    """``delay(...)`` answers how long to wait before the next poll of one operation."""

    poll_interval: timedelta
    max_backoff: timedelta = timedelta(minutes=5)

    def after_poll(self, retry_after: float | None) -> timedelta:
        """A poll answered: Azure's ``Retry-After`` when given, else the poll interval."""
        if retry_after is None:
            return self.poll_interval
        return self._clamp(timedelta(seconds=retry_after))

    def after_failure(self, failures: int, retry_after: float | None,
                      rng: random.Random) -> timedelta:
        """The ``failures``-th failure in a row (429, 5xx, network): exponential, jittered.

        Equal jitter (half fixed, half random) keeps the delay growing with each failure while
        spreading out the replicas and operations that failed together.
        """
        return backoff_delay(failures, self.poll_interval, self.max_backoff, retry_after,
                             rng.random())

    def _clamp(self, delay: timedelta) -> timedelta:
        return min(max(delay, MIN_DELAY), self.max_backoff)
