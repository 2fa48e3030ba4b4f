"""SQLModel tables of the audit store; only :mod:`bot.store.sql` and migrations use them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from bot.store.columns import utc_field

# The statuses that hold a hub (bot.domain.model.OPEN_STATUSES), spelt out as SQL because a
# partial index needs a literal predicate, and SQLite only uses that index for queries that
# repeat the very same predicate (see sql.OPEN_PREDICATE).
OPEN_PREDICATE_SQL = "status IN ('awaiting_approval', 'approved', 'running')"
# Rows whose latest change has not been announced in chat yet; small, so a partial index.
UNNOTIFIED_PREDICATE_SQL = "notified_version < version"


class FailoverRequestRow(SQLModel, table=True):
    """A failover request with its whole life, plus the poller's bookkeeping."""

    __tablename__ = "failover_request"
    __table_args__ = (
        # One open request per hub, whatever races the application loses.
        Index("uq_failover_request_open_hub", "hub_name", unique=True,
              sqlite_where=text(OPEN_PREDICATE_SQL), postgresql_where=text(OPEN_PREDICATE_SQL)),
        # Quota: starts of one kind on one hub in a window.
        Index("ix_failover_request_quota", "hub_name", "kind", "status", "decided_at"),
        # Cool-down: the last completion of one kind on one hub.
        Index("ix_failover_request_completed", "hub_name", "kind", "status", "completed_at"),
        Index("ix_failover_request_hub_created", "hub_name", "created_at"),
        Index("ix_failover_request_due_poll", "status", "next_poll_at"),
        Index("ix_failover_request_expiry", "status", "expires_at"),
        Index("ix_failover_request_unnotified", "id",
              sqlite_where=text(UNNOTIFIED_PREDICATE_SQL),
              postgresql_where=text(UNNOTIFIED_PREDICATE_SQL)),
        # Partial: single requests (batch_id NULL, nearly every row) stay out of it.
        Index("ix_failover_request_batch", "batch_id", "batch_position",
              sqlite_where=text("batch_id IS NOT NULL"),
              postgresql_where=text("batch_id IS NOT NULL")),
    )

    id: str = Field(primary_key=True, sa_type=String(32))
    hub_name: str = Field(sa_type=String(64))
    subscription_id: str = Field(sa_type=String(64))
    resource_group: str = Field(sa_type=String(128))
    kind: str = Field(sa_type=String(16))
    status: str = Field(sa_type=String(32))
    requested_by: str = Field(sa_type=String(64))
    reason: str = Field(sa_type=Text)
    channel_id: str = Field(sa_type=String(64))
    created_at: datetime = utc_field(nullable=False)
    expires_at: datetime = utc_field(nullable=False)
    region_before: str = Field(sa_type=String(64))
    region_target: str = Field(sa_type=String(64))
    device_count: int | None = Field(default=None)
    approved_by: str | None = Field(default=None, sa_type=String(64))
    decided_at: datetime | None = utc_field()
    started_at: datetime | None = utc_field()
    completed_at: datetime | None = utc_field()
    region_after: str | None = Field(default=None, sa_type=String(64))
    operation_handle: str | None = Field(default=None, sa_type=Text)
    error_code: str | None = Field(default=None, sa_type=String(128))
    error_message: str | None = Field(default=None, sa_type=Text)
    message_ts: str | None = Field(default=None, sa_type=String(32))
    status_message_ts: str | None = Field(default=None, sa_type=String(32))
    version: int = Field(default=1)
    next_poll_at: datetime | None = utc_field()
    lease_owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = utc_field()
    notified_version: int = Field(default=0)
    batch_id: str | None = Field(default=None, sa_type=String(32))
    batch_position: int | None = Field(default=None)
    # What approving it approves after the move (the hub's consumers, as JSON), if any.
    consumers: str | None = Field(default=None, sa_type=Text)
    drill_id: str | None = Field(default=None, sa_type=String(32))  # a drill's leg


class AuditEventRow(SQLModel, table=True):
    """One line of the append-only audit log; ``detail`` is JSON text."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_hub_at", "hub", "at"),
        Index("ix_audit_event_actor_at", "actor", "at"),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_request_id", "request_id", "at"),
        Index("ix_audit_event_batch_id", "batch_id", "at"),
    )

    # SQLite only auto-increments an INTEGER PRIMARY KEY (its rowid).
    id: int | None = Field(default=None, primary_key=True,
                           sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    at: datetime = utc_field(nullable=False)
    action: str = Field(sa_type=String(16))
    actor: str = Field(sa_type=String(64))
    hub: str | None = Field(default=None, sa_type=String(64))
    request_id: str | None = Field(default=None, sa_type=String(32))
    kind: str | None = Field(default=None, sa_type=String(16))
    detail: str = Field(default="{}", sa_type=Text)
    batch_id: str | None = Field(default=None, sa_type=String(32))


class FailoverBatchRow(SQLModel, table=True):
    """A regional batch (its hubs are failover_request rows with its id), plus the board's
    bookkeeping: who edits it (a lease) and what it last showed."""

    __tablename__ = "failover_batch"
    __table_args__ = (
        Index("ix_failover_batch_created", "created_at"),
        Index("ix_failover_batch_status", "status", "finished_at"),
    )

    id: str = Field(primary_key=True, sa_type=String(32))
    kind: str = Field(sa_type=String(16))
    region: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(32))
    requested_by: str = Field(sa_type=String(64))
    reason: str = Field(sa_type=Text)
    channel_id: str = Field(sa_type=String(64))
    created_at: datetime = utc_field(nullable=False)
    expires_at: datetime = utc_field(nullable=False)
    hub_count: int = Field(default=0)
    approved_by: str | None = Field(default=None, sa_type=String(64))
    decided_at: datetime | None = utc_field()
    stopped_by: str | None = Field(default=None, sa_type=String(64))
    stopped_at: datetime | None = utc_field()
    message_ts: str | None = Field(default=None, sa_type=String(32))
    finished_at: datetime | None = utc_field()
    version: int = Field(default=1)
    board_owner: str | None = Field(default=None, sa_type=String(128))
    board_lease_until: datetime | None = utc_field()
    board_digest: str | None = Field(default=None, sa_type=String(64))
    board_edited_at: datetime | None = utc_field()


class LazyJobRow(SQLModel, table=True):
    """The lazy half of one acked Slack request, until the work process has done it.

    Written by the front after its ack, claimed by a work process (``owner`` and a lease it
    renews), deleted once done; a claim whose owner died is released or lapses, and the job
    runs again (bot.store.jobs).
    """

    __tablename__ = "lazy_job"
    __table_args__ = (
        Index("ix_lazy_job_owner", "owner"),
        Index("ix_lazy_job_created", "created_at"),
    )

    id: str = Field(primary_key=True, sa_type=String(32))
    function: str = Field(sa_type=String(128))
    mode: str = Field(sa_type=String(16))
    body: str = Field(sa_type=Text)  # the raw request body, or JSON (Socket Mode)
    headers: str = Field(sa_type=Text)  # JSON
    request_id: str | None = Field(default=None, sa_type=String(64))
    created_at: datetime = utc_field(nullable=False)
    attempts: int = Field(default=0)
    owner: str | None = Field(default=None, sa_type=String(128))
    lease_expires_at: datetime | None = utc_field()


class StartPaceRow(SQLModel, table=True):
    """The deployment's pace of batch starts (ARM's write limits): the last turn taken, by
    any replica; each start claims the next one under the row's lock (bot.store.pace)."""

    __tablename__ = "start_pace"

    name: str = Field(primary_key=True, sa_type=String(32))
    last_turn_at: datetime | None = utc_field()


metadata = SQLModel.metadata

# The tables of later features, in modules of their own, registered on the same metadata (the
# migrations and their check read every table from here).
from bot.store import after_move_tables, drill_tables  # noqa: E402, F401
