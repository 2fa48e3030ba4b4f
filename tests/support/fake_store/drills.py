"""The fake store's drills and schedules, mirroring ``bot.store.drills``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.drill import Drill
from bot.domain.drill_schedule import DrillSchedule


@dataclass
class DrillTables:
    drills: dict[str, tuple[Drill, str | None, datetime | None]] = field(default_factory=dict)
    schedules: dict[str, DrillSchedule] = field(default_factory=dict)

    def copy(self) -> DrillTables:
        return DrillTables(dict(self.drills), dict(self.schedules))


class FakeDrills:
    def __init__(self, tables: Callable[[], DrillTables]) -> None:
        self._tables = tables

    def add(self, drill: Drill) -> None:
        self._tables().drills[drill.id] = (drill, None, None)

    def get(self, drill_id: str) -> Drill | None:
        found = self._tables().drills.get(drill_id)
        return found[0] if found else None

    def save(self, drill: Drill, expected_version: int) -> bool:
        found = self._tables().drills.get(drill.id)
        if found is None or found[0].version != expected_version:
            return False
        self._tables().drills[drill.id] = (drill, found[1], found[2])
        return True

    def open_for_hub(self, hub: str) -> Drill | None:
        open_ = [d for d, _, _ in self._tables().drills.values()
                 if d.hub == hub and not d.status.ended]
        return max(open_, key=lambda d: d.created_at, default=None)

    def history(self, hub: str | None = None, limit: int = 100,
                since: datetime | None = None) -> list[Drill]:
        drills = [d for d, _, _ in self._tables().drills.values() if hub in (None, d.hub)
                  and (since is None or d.created_at >= since)]
        return sorted(drills, key=lambda d: d.created_at, reverse=True)[:limit]

    def latest_per_hub(self) -> list[Drill]:
        latest: dict[str, Drill] = {}
        for drill in sorted((d for d, _, _ in self._tables().drills.values()),
                            key=lambda d: (-d.created_at.timestamp(), d.id)):
            latest.setdefault(drill.hub, drill)
        return list(latest.values())

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Drill]:
        rows = self._tables().drills
        due = [d for d, held_by, until in rows.values()
               if ((not d.status.ended and d.next_step_at is not None and d.next_step_at <= now)
                   or d.untold is not None)
               and (held_by in (None, owner) or until is None or until <= now)]
        due = sorted(due, key=lambda d: d.next_step_at or now)[:limit]
        for drill in due:
            rows[drill.id] = (drill, owner, now + lease)
        return due

    def release(self, drill_id: str, owner: str) -> None:
        found = self._tables().drills.get(drill_id)
        if found is not None and found[1] == owner:
            self._tables().drills[drill_id] = (found[0], None, None)

    def add_schedule(self, schedule: DrillSchedule) -> None:
        self._tables().schedules[schedule.id] = schedule

    def schedules(self, hub: str | None = None) -> list[DrillSchedule]:
        found = [s for s in self._tables().schedules.values()
                 if not s.cancelled and hub in (None, s.hub)]
        return sorted(found, key=lambda s: (s.next_at is None, s.next_at or s.created_at))

    def due_schedules(self, now: datetime, limit: int) -> list[DrillSchedule]:
        return [s for s in self.schedules() if s.next_at is not None and s.next_at <= now][:limit]

    def move_schedule(self, schedule: DrillSchedule, expected_next_at: datetime) -> bool:
        found = self._tables().schedules.get(schedule.id)
        if found is None or found.cancelled or found.next_at != expected_next_at:
            return False
        self._tables().schedules[schedule.id] = replace(
            found, next_at=schedule.next_at, last_drill_id=schedule.last_drill_id)
        return True

    def cancel_schedules(self, hub: str) -> int:
        rows = self._tables().schedules
        mine = [s for s in rows.values() if s.hub == hub and not s.cancelled]
        for schedule in mine:
            rows[schedule.id] = replace(schedule, cancelled=True)
        return len(mine)
