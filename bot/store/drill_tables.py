"""SQLModel tables of drills and their schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlmodel import Field, SQLModel

from bot.store.columns import utc_field


class DrillRow(SQLModel, table=True):
    """A drill (bot.domain.drill): its legs are failover_request rows with its id; the
    poller's bookkeeping beside it (who advances it, a lease; when next)."""

    __tablename__ = "drill"
    __table_args__ = (
        Index("ix_drill_hub", "hub_name", "created_at"),
        Index("ix_drill_due", "status", "next_step_at"),
    )

    id: str = Field(primary_key=True, sa_type=String(32))
    hub_name: str = Field(sa_type=String(64))
    channel_id: str = Field(sa_type=String(64))
    requested_by: str = Field(sa_type=String(64))
    reason: str = Field(sa_type=Text)
    created_at: datetime = utc_field(nullable=False)
    failover_request_id: str = Field(sa_type=String(32))
    status: str = Field(sa_type=String(16))
    approved_by: str | None = Field(default=None, sa_type=String(64))
    failback_request_id: str | None = Field(default=None, sa_type=String(32))
    failback_at: datetime | None = utc_field()
    stopped_by: str | None = Field(default=None, sa_type=String(64))
    stopped_at: datetime | None = utc_field()
    scheduled_by: str | None = Field(default=None, sa_type=String(64))
    schedule_id: str | None = Field(default=None, sa_type=String(32))
    next_step_at: datetime | None = utc_field()
    ended_at: datetime | None = utc_field()
    report: str | None = Field(default=None, sa_type=Text)  # JSON
    untold: str | None = Field(default=None, sa_type=Text)  # its thread's next line
    version: int = Field(default=1)
    lease_owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = utc_field()


class DrillScheduleRow(SQLModel, table=True):
    """A hub's drills on a schedule: the next is asked for at ``next_at`` (claimed by one
    replica with a compare-and-set on it), then every ``every_s`` seconds (None: once)."""

    __tablename__ = "drill_schedule"
    __table_args__ = (Index("ix_drill_schedule_due", "cancelled", "next_at"),)

    id: str = Field(primary_key=True, sa_type=String(32))
    hub_name: str = Field(sa_type=String(64))
    channel_id: str = Field(sa_type=String(64))
    created_by: str = Field(sa_type=String(64))
    created_at: datetime = utc_field(nullable=False)
    reason: str = Field(sa_type=Text)
    every_s: int | None = Field(default=None, sa_type=BigInteger)
    next_at: datetime | None = utc_field()
    cancelled: bool = Field(default=False, sa_type=Boolean)
    last_drill_id: str | None = Field(default=None, sa_type=String(32))
