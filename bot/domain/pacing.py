"""Pacing of failover starts within Azure Resource Manager's write limits: a token bucket.

A batch's starts are given slots at approval (so a restarted or another process keeps the
pace), and each process also takes a token before every POST (so retries and several
batches at once stay within the limit too).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class TokenBucket:
    """``rate_per_minute`` tokens a minute, at most ``burst`` saved up; thread-safe."""

    def __init__(self, rate_per_minute: int, burst: int = 1) -> None:
        if rate_per_minute <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.interval = timedelta(minutes=1) / rate_per_minute
        self.burst = burst
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at: datetime | None = None

    def reserve(self, now: datetime) -> datetime:
        """Take the next token, now or in the future: when its holder may act. Tokens
        reserved ahead are owed (the count goes below zero), so callers line up one
        interval apart instead of all retrying at once."""
        with self._lock:
            self._refill(now)
            self._tokens -= 1
            if self._tokens >= 0:
                return now
            return now + self.interval * -self._tokens

    def _refill(self, now: datetime) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) / self.interval)
        self._at = now if self._at is None else max(self._at, now)


def start_slots(count: int, earliest: datetime, rate_per_minute: int) -> list[datetime]:
    """When each of ``count`` starts may go, one interval apart from ``earliest``."""
    step = timedelta(minutes=1) / rate_per_minute
    return [earliest + step * i for i in range(count)]
