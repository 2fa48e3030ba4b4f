"""Schema migrations (Alembic), driven from code: no ``alembic.ini`` is needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.errors import SchemaOutdated
from bot.store.base import StoreUnavailable
from bot.store.schema import MIGRATIONS_DIR_ENV, migrations_dir  # noqa: F401 - public here too
from bot.store.sql import database_url, make_engine


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # The connection goes in attributes, not the URL in options: ini interpolation would
    # mangle a '%' in a password, and the URL would show up in Alembic's own messages.
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@contextmanager
def _connect(url: str | URL) -> Iterator[Connection]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    except (OperationalError, InterfaceError) as exc:
        cause = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
        raise StoreUnavailable(f"the database is unavailable: {cause[0]}") from exc
    finally:
        engine.dispose()


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` in one transaction."""
    with _connect(url) as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(url: str | URL) -> str | None:
    with _connect(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_empty(url: str | URL) -> bool:
    """No tables at all: a brand-new database."""
    with _connect(url) as connection:
        return not inspect(connection).get_table_names()


def ensure_schema(url: str | URL) -> None:
    """Used at start-up: migrate a SQLite file ourselves; PostgreSQL is the operator's call."""
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return
    if database_url(url).get_backend_name() == "sqlite":
        if current is None and not is_empty(url):
            raise SchemaOutdated(
                "the SQLite database has tables but no migration history; "
                "point DATABASE_URL at a new file or restore one made by failover-bot"
            )
        if current is not None and not _known(current):
            raise SchemaOutdated(_ahead_message(current, head))
        upgrade(url)
        return
    if current is not None and not _known(current):
        raise SchemaOutdated(_ahead_message(current, head))
    raise SchemaOutdated(
        f"the database schema is at revision {current or '(none)'} but this version needs "
        f"{head}; run `failover-bot db upgrade` first"
    )


def require_schema(url: str | URL) -> None:
    """For readers: SchemaOutdated unless the schema is exactly this version's. Changes
    nothing."""
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaOutdated(_ahead_message(current, head))
    raise SchemaOutdated(
        f"the database schema is at revision {current or '(none: no migrations applied yet)'} "
        f"but this version needs {head}; run `failover-bot db upgrade`"
    )


def _known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(rev.revision == revision for rev in script.walk_revisions())


def _ahead_message(current: str, head: str | None) -> str:
    return (
        f"the database schema is at revision {current}, which this version of failover-bot "
        f"does not know (it expects {head}); the database was migrated by a newer version"
    )


def missing_sqlite_file(url: str | URL) -> str | None:
    """The path of a SQLite database file that does not exist yet, else ``None``."""
    parsed = database_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path
