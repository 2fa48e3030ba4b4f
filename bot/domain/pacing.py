"""Pacing of failover starts within Azure Resource Manager's write limits.

A batch's starts are given slots at approval (so a restarted or another process keeps the
pace), and each process also takes a grant from its :class:`TokenBucket` just before every
batch POST (so late rounds, retries and several batches at once stay within the limit too).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class TokenBucket:
    """``rate_per_minute`` POSTs a minute, at most ``burst`` at once; thread-safe.

    A token bucket in its scheduling form (GCRA): each grant is a time, every grant at least
    one interval after the one before it (``burst`` of them may share a moment), so callers
    who cannot go now are told exactly when they may, and never two of them the same slot.
    """

    def __init__(self, rate_per_minute: int, burst: int = 1) -> None:
        if rate_per_minute <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.interval = timedelta(minutes=1) / rate_per_minute
        self.burst = burst
        self._lock = threading.Lock()
        self._next: datetime | None = None  # the theoretical time of the next grant

    def grant(self, now: datetime) -> datetime:
        """The time at which the caller may act (``now`` if it may act at once); that slot
        is theirs, the next caller's comes one interval later."""
        with self._lock:
            theoretical = now if self._next is None else max(self._next, now)
            slot = max(now, theoretical - self.interval * (self.burst - 1))
            self._next = theoretical + self.interval
            return slot

    def on_time(self, slot: datetime, now: datetime) -> bool:
        """Whether a caller back for ``slot`` at ``now`` still holds it: within half an
        interval; later, the slot is lost (acting then would bunch with the next ones)."""
        return slot <= now < slot + self.interval / 2


def start_slots(count: int, earliest: datetime, rate_per_minute: int) -> list[datetime]:
    """When each of ``count`` starts may go, one interval apart from ``earliest``."""
    step = timedelta(minutes=1) / rate_per_minute
    return [earliest + step * i for i in range(count)]
