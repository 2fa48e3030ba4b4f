"""Regional batches: the batch table, and the batch id on requests and audit events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failover_batch",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hub_count", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("board_owner", sa.String(length=128), nullable=True),
        sa.Column("board_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("board_digest", sa.String(length=64), nullable=True),
        sa.Column("board_edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failover_batch_created", "failover_batch", ["created_at"])
    op.create_index("ix_failover_batch_status", "failover_batch", ["status", "finished_at"])
    with op.batch_alter_table("failover_request") as table:
        table.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        table.add_column(sa.Column("batch_position", sa.Integer(), nullable=True))
        table.create_index("ix_failover_request_batch", ["batch_id", "batch_position"],
                           sqlite_where=sa.text("batch_id IS NOT NULL"),
                           postgresql_where=sa.text("batch_id IS NOT NULL"))
    with op.batch_alter_table("audit_event") as table:
        table.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        table.create_index("ix_audit_event_batch_id", ["batch_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as table:
        table.drop_index("ix_audit_event_batch_id")
        table.drop_column("batch_id")
    with op.batch_alter_table("failover_request") as table:
        table.drop_index("ix_failover_request_batch")
        table.drop_column("batch_position")
        table.drop_column("batch_id")
    op.drop_index("ix_failover_batch_status", "failover_batch")
    op.drop_index("ix_failover_batch_created", "failover_batch")
    op.drop_table("failover_batch")
