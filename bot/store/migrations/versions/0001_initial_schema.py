"""Initial schema: failover requests and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('awaiting_approval', 'approved', 'running')"
UNNOTIFIED = "notified_version < version"


def utc(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column:
    type_ = sa.String(length=length) if length else sa.Text()
    return sa.Column(name, type_, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        utc("at", nullable=False),
        text("action", 16),
        text("actor", 64),
        text("hub", 64, nullable=True),
        text("request_id", 32, nullable=True),
        text("kind", 16, nullable=True),
        text("detail"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_actor_at", "audit_event", ["actor", "at"])
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_hub_at", "audit_event", ["hub", "at"])
    op.create_index("ix_audit_event_request_id", "audit_event", ["request_id", "at"])

    op.create_table(
        "failover_request",
        text("id", 32),
        text("hub_name", 64),
        text("subscription_id", 64),
        text("resource_group", 128),
        text("kind", 16),
        text("status", 32),
        text("requested_by", 64),
        text("reason"),
        text("channel_id", 64),
        utc("created_at", nullable=False),
        utc("expires_at", nullable=False),
        text("region_before", 64),
        text("region_target", 64),
        sa.Column("device_count", sa.Integer(), nullable=True),
        text("approved_by", 64, nullable=True),
        utc("decided_at"),
        utc("started_at"),
        utc("completed_at"),
        text("region_after", 64, nullable=True),
        text("operation_handle", nullable=True),
        text("error_code", 128, nullable=True),
        text("error_message", nullable=True),
        text("message_ts", 32, nullable=True),
        text("status_message_ts", 32, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        utc("next_poll_at"),
        text("lease_owner", 128, nullable=True),
        utc("lease_expires_at"),
        sa.Column("notified_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    table = "failover_request"
    op.create_index("ix_failover_request_completed", table,
                    ["hub_name", "kind", "status", "completed_at"])
    op.create_index("ix_failover_request_due_poll", table, ["status", "next_poll_at"])
    op.create_index("ix_failover_request_expiry", table, ["status", "expires_at"])
    op.create_index("ix_failover_request_hub_created", table, ["hub_name", "created_at"])
    op.create_index("ix_failover_request_quota", table,
                    ["hub_name", "kind", "status", "decided_at"])
    op.create_index("ix_failover_request_unnotified", table, ["id"],
                    sqlite_where=sa.text(UNNOTIFIED), postgresql_where=sa.text(UNNOTIFIED))
    op.create_index("uq_failover_request_open_hub", table, ["hub_name"], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_table("failover_request")
    op.drop_table("audit_event")
