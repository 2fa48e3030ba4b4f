"""What the store keeps of drills (issue #23): drills, compare-and-set, leased by the
poller's drill keeper; and their schedules, one replica asking for each scheduled drill."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.drill import Drill
from bot.domain.drill_schedule import DrillSchedule


class DrillRepository(Protocol):
    def add(self, drill: Drill) -> None: ...

    def get(self, drill_id: str) -> Drill | None: ...

    def save(self, drill: Drill, expected_version: int) -> bool: ...

    def open_for_hub(self, hub: str) -> Drill | None:
        """The hub's drill under way (not ended), if any."""
        ...

    def history(self, hub: str | None = None, limit: int = 100,
                since: datetime | None = None) -> list[Drill]:
        """Drills newest first (asked for at or after ``since``)."""
        ...

    def latest_per_hub(self) -> list[Drill]:
        """Each hub's newest drill, newest first."""
        ...

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Drill]: ...

    def release(self, drill_id: str, owner: str) -> None: ...

    def add_schedule(self, schedule: DrillSchedule) -> None: ...

    def schedules(self, hub: str | None = None) -> list[DrillSchedule]:
        """Schedules not cancelled, soonest first."""
        ...

    def due_schedules(self, now: datetime, limit: int) -> list[DrillSchedule]: ...

    def move_schedule(self, schedule: DrillSchedule, expected_next_at: datetime) -> bool:
        """Compare-and-set on ``next_at``: the replica that moves it asks for the drill."""
        ...

    def cancel_schedules(self, hub: str) -> int: ...
