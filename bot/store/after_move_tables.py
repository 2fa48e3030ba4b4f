"""SQLModel tables of what follows a move: verifications and consumer actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text, text
from sqlmodel import Field, SQLModel

from bot.store.columns import utc_field


class VerificationRow(SQLModel, table=True):
    """A move's verification (bot.domain.verification_state), with its looks' bookkeeping:
    who looks (a lease) and when next. ``baseline``, ``minutes`` and ``figures`` are JSON."""

    __tablename__ = "verification"
    __table_args__ = (
        Index("ix_verification_due", "status", "next_look_at"),
        Index("ix_verification_hub", "hub_name", "posted_at"),
        Index("ix_verification_untold", "request_id",
              sqlite_where=text("announced = 0"), postgresql_where=text("NOT announced")),
        Index("ix_verification_batch", "batch_id",
              sqlite_where=text("batch_id IS NOT NULL"),
              postgresql_where=text("batch_id IS NOT NULL")),
    )

    request_id: str = Field(primary_key=True, sa_type=String(32))
    hub_name: str = Field(sa_type=String(64))
    subscription_id: str = Field(sa_type=String(64))
    resource_group: str = Field(sa_type=String(128))
    kind: str = Field(sa_type=String(16))
    batch_id: str | None = Field(default=None, sa_type=String(32))
    status: str = Field(sa_type=String(16))
    posted_at: datetime = utc_field(nullable=False)
    completed_at: datetime | None = utc_field()
    baseline: str | None = Field(default=None, sa_type=Text)
    minutes: str = Field(default="{}", sa_type=Text)
    figures: str | None = Field(default=None, sa_type=Text)
    reason: str = Field(default="", sa_type=Text)
    next_look_at: datetime | None = utc_field()
    decided_at: datetime | None = utc_field()
    reads: int = Field(default=0)
    announced: bool = Field(default=False, sa_type=Boolean)
    version: int = Field(default=1)
    lease_owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = utc_field()


class ConsumerActionRow(SQLModel, table=True):
    """One consumer to act on after a move, at most once (bot.domain.consumer_action)."""

    __tablename__ = "consumer_action"
    __table_args__ = (
        Index("ix_consumer_action_status", "status", "lease_expires_at"),
        Index("ix_consumer_action_untold", "request_id",
              sqlite_where=text("announced = 0"), postgresql_where=text("NOT announced")),
    )

    request_id: str = Field(primary_key=True, sa_type=String(32))
    consumer_key: str = Field(primary_key=True, sa_type=String(512))  # its id, lower case
    hub_name: str = Field(sa_type=String(64))
    kind: str = Field(sa_type=String(16))
    batch_id: str | None = Field(default=None, sa_type=String(32))
    consumer_kind: str = Field(sa_type=String(32))
    subscription_id: str = Field(sa_type=String(64))
    resource_group: str = Field(sa_type=String(128))
    name: str = Field(sa_type=String(128))
    status: str = Field(sa_type=String(16))
    created_at: datetime = utc_field(nullable=False)
    owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = utc_field()
    outcome: str | None = Field(default=None, sa_type=String(16))
    sentence: str = Field(default="", sa_type=Text)
    finished_at: datetime | None = utc_field()
    announced: bool = Field(default=False, sa_type=Boolean)
