"""Alembic environment for failover-bot; configured in code by :mod:`bot.store.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.store.sql import make_engine
from bot.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Only reached when somebody runs the alembic CLI with their own config.
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as own_connection:
        _run(own_connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: later migrations use batch mode ("move and copy").
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `failover-bot db upgrade`")
run_migrations_online()
