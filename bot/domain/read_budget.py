"""Azure Resource Manager's read budget, as one process spends it.

ARM throttles reads per subscription and identity with a token bucket (250 at most, 25 more
a second); every read the bot makes counts. The poller's polls cannot wait (a completion is
reported within a poll interval), so they are spent without asking; verification's looks,
which can wait a few seconds without harm, only go when the budget has room for them. A
thousand hubs verified at once are then paced, not a read storm.
"""

from __future__ import annotations

import threading
from datetime import datetime


class ReadBudget:
    """``per_second`` reads a second, at most ``burst`` saved up; thread-safe."""

    def __init__(self, per_second: float, burst: float, now: datetime) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a read budget refills and holds at least one read")
        self.per_second, self.burst = per_second, burst
        self._tokens = burst
        self._at = now
        self._lock = threading.Lock()
        self.spent = 0  # every read counted, for benchmarks and /metrics

    def available(self, now: datetime) -> int:
        with self._lock:
            return max(0, int(self._refill(now)))

    def spend(self, reads: int, now: datetime) -> None:
        """Count ``reads`` made (or about to be): may go below zero, then later asks wait —
        never more than a burst's worth (a storm of polls must not starve looks for minutes)."""
        with self._lock:
            self._tokens = max(-self.burst, self._refill(now) - reads)
            self.spent += reads

    def seconds_until(self, reads: int, now: datetime) -> float:
        with self._lock:
            missing = reads - self._refill(now)
        return max(0.0, missing / self.per_second)

    def _refill(self, now: datetime) -> float:
        elapsed = max(0.0, (now - self._at).total_seconds())
        self._tokens = min(self.burst, self._tokens + elapsed * self.per_second)
        self._at = max(self._at, now)
        return self._tokens
