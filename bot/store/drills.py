"""Drills and their schedules on SQLModel: compare-and-set saves, the poller's leases, and a
schedule claimed by moving its ``next_at`` on (one replica asks for a scheduled drill)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from bot.domain.drill import Drill, DrillStatus
from bot.domain.drill_schedule import DrillSchedule
from bot.store.drill_tables import DrillRow, DrillScheduleRow
from bot.store.engine import translating
from bot.store.rows import dialect, updated_row

_ENDED = [s.value for s in DrillStatus if s.ended]
_FIELDS = [f.name for f in fields(Drill) if f.name not in ("hub", "status", "report")]


def _values(drill: Drill) -> dict[str, Any]:
    values = {name: getattr(drill, name) for name in _FIELDS}
    return dict(values, hub_name=drill.hub, status=drill.status.value,
                report=json.dumps(drill.report, sort_keys=True) if drill.report else None)


def _to_drill(row: DrillRow) -> Drill:
    values = {name: getattr(row, name) for name in _FIELDS}
    return Drill(hub=row.hub_name, status=DrillStatus(row.status),
                 report=json.loads(row.report) if row.report else None, **values)


def _to_schedule(row: DrillScheduleRow) -> DrillSchedule:
    return DrillSchedule(row.id, row.hub_name, row.channel_id, row.created_by, row.created_at,
                         row.reason, row.next_at,
                         timedelta(seconds=row.every_s) if row.every_s else None,
                         row.cancelled, row.last_drill_id)


class SqlDrills:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def add(self, drill: Drill) -> None:
        self._session.add(DrillRow(**_values(drill)))
        self._session.flush()

    @translating
    def get(self, drill_id: str) -> Drill | None:
        row = self._session.get(DrillRow, drill_id, populate_existing=True)
        return _to_drill(row) if row is not None else None

    @translating
    def save(self, drill: Drill, expected_version: int) -> bool:
        statement = (update(DrillRow).where(col(DrillRow.id) == drill.id,
                                            col(DrillRow.version) == expected_version)
                     .values(**_values(drill)))
        return bool(self._session.execute(statement).rowcount)  # type: ignore[attr-defined]

    @translating
    def open_for_hub(self, hub: str) -> Drill | None:
        query = (select(DrillRow).where(col(DrillRow.hub_name) == hub,
                                        col(DrillRow.status).not_in(_ENDED))
                 .order_by(col(DrillRow.created_at).desc()).limit(1))
        row = self._session.exec(query).first()
        return _to_drill(row) if row is not None else None

    @translating
    def history(self, hub: str | None = None, limit: int = 100,
                since: datetime | None = None) -> list[Drill]:
        """Drills newest first (a hub's, or every hub's)."""
        query = select(DrillRow).order_by(col(DrillRow.created_at).desc()).limit(limit)
        if hub is not None:
            query = query.where(col(DrillRow.hub_name) == hub)
        if since is not None:
            query = query.where(col(DrillRow.created_at) >= since)
        return [_to_drill(row) for row in self._session.exec(query)]

    @translating
    def latest_per_hub(self) -> list[Drill]:
        """Each hub's newest drill (ix_drill_hub finds each hub's last), newest first."""
        newest = (select(col(DrillRow.hub_name).label("hub"),
                         func.max(DrillRow.created_at).label("at"))
                  .group_by(col(DrillRow.hub_name)).subquery())
        query = (select(DrillRow)
                 .join(newest, and_(col(DrillRow.hub_name) == newest.c.hub,
                                    col(DrillRow.created_at) == newest.c.at))
                 .order_by(col(DrillRow.created_at).desc(), col(DrillRow.id)))
        latest: dict[str, Drill] = {}
        for row in self._session.exec(query):  # two drills asked the same instant: one
            latest.setdefault(row.hub_name, _to_drill(row))
        return list(latest.values())

    @translating
    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Drill]:
        free = or_(col(DrillRow.lease_expires_at).is_(None),
                   col(DrillRow.lease_expires_at) <= now, col(DrillRow.lease_owner) == owner)
        stepping = and_(col(DrillRow.status).not_in(_ENDED), col(DrillRow.next_step_at) <= now)
        due = (or_(stepping, col(DrillRow.untold).is_not(None)), free)
        query = (select(DrillRow.id).where(*due).order_by(col(DrillRow.next_step_at))
                 .limit(limit))
        if dialect(self._session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for drill_id in list(self._session.exec(query)):
            statement = (update(DrillRow).where(col(DrillRow.id) == drill_id, *due)
                         .values(lease_owner=owner, lease_expires_at=now + lease))
            row = updated_row(self._session, statement, DrillRow)
            if row is not None:
                claimed.append(_to_drill(row))
        return claimed

    @translating
    def release(self, drill_id: str, owner: str) -> None:
        self._session.execute(update(DrillRow).where(col(DrillRow.id) == drill_id,
                                                     col(DrillRow.lease_owner) == owner)
                              .values(lease_owner=None, lease_expires_at=None))

    # ---- schedules ------------------------------------------------------------------------

    @translating
    def add_schedule(self, schedule: DrillSchedule) -> None:
        self._session.add(DrillScheduleRow(
            id=schedule.id, hub_name=schedule.hub, channel_id=schedule.channel_id,
            created_by=schedule.created_by, created_at=schedule.created_at,
            reason=schedule.reason, next_at=schedule.next_at,
            every_s=int(schedule.every.total_seconds()) if schedule.every else None,
            cancelled=schedule.cancelled, last_drill_id=schedule.last_drill_id))
        self._session.flush()

    @translating
    def schedules(self, hub: str | None = None) -> list[DrillSchedule]:
        query = (select(DrillScheduleRow).where(col(DrillScheduleRow.cancelled).is_(False))
                 .order_by(col(DrillScheduleRow.next_at)))
        if hub is not None:
            query = query.where(col(DrillScheduleRow.hub_name) == hub)
        return [_to_schedule(row) for row in self._session.exec(query)]

    @translating
    def due_schedules(self, now: datetime, limit: int) -> list[DrillSchedule]:
        query = (select(DrillScheduleRow)
                 .where(col(DrillScheduleRow.cancelled).is_(False),
                        col(DrillScheduleRow.next_at) <= now)
                 .order_by(col(DrillScheduleRow.next_at)).limit(limit))
        return [_to_schedule(row) for row in self._session.exec(query)]

    @translating
    def move_schedule(self, schedule: DrillSchedule, expected_next_at: datetime) -> bool:
        """Compare-and-set on ``next_at``: whoever moves it on asks for the drill."""
        statement = (update(DrillScheduleRow)
                     .where(col(DrillScheduleRow.id) == schedule.id,
                            col(DrillScheduleRow.next_at) == expected_next_at,
                            col(DrillScheduleRow.cancelled).is_(False))
                     .values(next_at=schedule.next_at, last_drill_id=schedule.last_drill_id))
        return bool(self._session.execute(statement).rowcount)  # type: ignore[attr-defined]

    @translating
    def cancel_schedules(self, hub: str) -> int:
        statement = (update(DrillScheduleRow)
                     .where(col(DrillScheduleRow.hub_name) == hub,
                            col(DrillScheduleRow.cancelled).is_(False))
                     .values(cancelled=True))
        return int(self._session.execute(statement).rowcount)  # type: ignore[attr-defined]
