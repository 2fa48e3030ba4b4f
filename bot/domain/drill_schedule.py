"""A hub's drills on a schedule: ``/iothub drill <hub> --every 90d`` or ``--at <time>``.

At its time the poller asks for the drill's approval (a scheduled drill still needs an
approver; its approval message says it was scheduled, and by whom); one replica does, the one
that moves ``next_at`` on with a compare-and-set.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

SCHEDULE_ID_PREFIX = "ds-"
SHORTEST_EVERY = timedelta(days=1)  # Azure's quota: a drill a day at most


def new_schedule_id() -> str:
    return SCHEDULE_ID_PREFIX + secrets.token_hex(4)


@dataclass(frozen=True)
class DrillSchedule:
    id: str
    hub: str
    channel_id: str
    created_by: str
    created_at: datetime
    reason: str
    next_at: datetime | None
    every: timedelta | None = None  # None: once, at next_at
    cancelled: bool = False
    last_drill_id: str | None = None

    def after(self, asked_at: datetime, drill_id: str | None) -> DrillSchedule:
        """Once its drill was asked for: the next time, or none for a one-off."""
        if self.every is None or self.next_at is None:
            return replace(self, next_at=None, last_drill_id=drill_id or self.last_drill_id)
        later = self.next_at + self.every
        while later <= asked_at:  # a bot down for long does not ask for missed drills
            later += self.every
        return replace(self, next_at=later, last_drill_id=drill_id or self.last_drill_id)
