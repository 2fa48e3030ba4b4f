"""After a move: its verification, the consumers to act on, and what a request's approval
approved of them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("failover_request", sa.Column("consumers", sa.Text(), nullable=True))
    op.create_table(
        "verification",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("hub_name", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("resource_group", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("posted_at", _UTC, nullable=False),
        sa.Column("completed_at", _UTC, nullable=True),
        sa.Column("baseline", sa.Text(), nullable=True),
        sa.Column("minutes", sa.Text(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("next_look_at", _UTC, nullable=True),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.Column("reads", sa.Integer(), nullable=False),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_verification_due", "verification", ["status", "next_look_at"])
    op.create_index("ix_verification_hub", "verification", ["hub_name", "posted_at"])
    op.create_index("ix_verification_untold", "verification", ["request_id"],
                    sqlite_where=sa.text("announced = 0"),
                    postgresql_where=sa.text("NOT announced"))
    op.create_index("ix_verification_batch", "verification", ["batch_id"],
                    sqlite_where=sa.text("batch_id IS NOT NULL"),
                    postgresql_where=sa.text("batch_id IS NOT NULL"))
    op.create_table(
        "consumer_action",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("consumer_key", sa.String(length=512), nullable=False),
        sa.Column("hub_name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("consumer_kind", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("resource_group", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _UTC, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("sentence", sa.Text(), nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("announced", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "consumer_key"),
    )
    op.create_index("ix_consumer_action_status", "consumer_action",
                    ["status", "lease_expires_at"])
    op.create_index("ix_consumer_action_untold", "consumer_action", ["request_id"],
                    sqlite_where=sa.text("announced = 0"),
                    postgresql_where=sa.text("NOT announced"))


def downgrade() -> None:
    op.drop_table("consumer_action")
    op.drop_table("verification")
    op.drop_column("failover_request", "consumers")
