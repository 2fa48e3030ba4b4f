"""What a poller round did, and the leases it keeps between rounds (plain records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Held:
    """A lease kept past its poll: when to poll next, and until when the lease runs."""

    next_poll_at: datetime
    lease_until: datetime


@dataclass(frozen=True)
class Round:
    """What one ``run_once()`` did, for logs and tests."""

    expired: int
    polled: int
    sent: int
