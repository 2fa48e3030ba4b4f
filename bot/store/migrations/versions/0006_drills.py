"""Drills: a drill and its schedule; a request knows the drill it is a leg of.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("failover_request", sa.Column("drill_id", sa.String(length=32), nullable=True))
    op.create_table(
        "drill",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hub_name", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("failover_request_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("failback_request_id", sa.String(length=32), nullable=True),
        sa.Column("failback_at", _UTC, nullable=True),
        sa.Column("stopped_by", sa.String(length=64), nullable=True),
        sa.Column("stopped_at", _UTC, nullable=True),
        sa.Column("scheduled_by", sa.String(length=64), nullable=True),
        sa.Column("schedule_id", sa.String(length=32), nullable=True),
        sa.Column("next_step_at", _UTC, nullable=True),
        sa.Column("ended_at", _UTC, nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("untold", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drill_hub", "drill", ["hub_name", "created_at"])
    op.create_index("ix_drill_due", "drill", ["status", "next_step_at"])
    op.create_table(
        "drill_schedule",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hub_name", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("every_s", sa.BigInteger(), nullable=True),
        sa.Column("next_at", _UTC, nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("last_drill_id", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drill_schedule_due", "drill_schedule", ["cancelled", "next_at"])


def downgrade() -> None:
    op.drop_table("drill_schedule")
    op.drop_table("drill")
    op.drop_column("failover_request", "drill_id")
