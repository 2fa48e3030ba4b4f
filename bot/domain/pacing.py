"""Pacing of failover starts within Azure Resource Manager's write limits.

A batch's starts are given slots at approval (so a restarted or another process keeps the
pace), and each process also takes a token from its :class:`TokenBucket` before every batch
POST (so late rounds, retries and several batches at once stay within the limit too).
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class TokenBucket:
    """At most ``burst`` starts in any one interval (``rate_per_minute`` a minute);
    thread-safe.

    A caller that may not go now is told when to come back, and keeps no place in a queue:
    whoever comes first when a token is free goes. So a caller that comes back late never
    loses its turn for ever (no livelock), and several that are late at once do not all go
    at once: one per interval does.
    """

    def __init__(self, rate_per_minute: int, burst: int = 1) -> None:
        if rate_per_minute <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.interval = timedelta(minutes=1) / rate_per_minute
        self.burst = burst
        self._lock = threading.Lock()
        self._gone: deque[datetime] = deque(maxlen=burst)  # the latest starts

    def take(self, now: datetime) -> datetime | None:
        """Take a token: ``None`` if the caller may go now, else when one will be free."""
        with self._lock:
            if len(self._gone) == self.burst and now - self._gone[0] < self.interval:
                return self._gone[0] + self.interval
            self._gone.append(now)
            return None


def start_slots(count: int, earliest: datetime, rate_per_minute: int) -> list[datetime]:
    """When each of ``count`` starts may go, one interval apart from ``earliest``."""
    step = timedelta(minutes=1) / rate_per_minute
    return [earliest + step * i for i in range(count)]
