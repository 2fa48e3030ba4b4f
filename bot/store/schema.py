"""Whether the database's schema is this version's, without Alembic: the migrations' head is
read from their files (``revision`` / ``down_revision``), the database's revision from
``alembic_version``. So a process whose database is up to date — every start but the first
after an upgrade — never imports Alembic (and Mako, which it brings: about 8 MB kept for
the process's whole life); anything else is ``bot.store.migrate``'s to judge and apply, in
a process of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from bot.errors import SchemaOutdated
from bot.store.base import StoreUnavailable
from bot.store.sql import make_engine

MIGRATIONS_DIR_ENV = "BOT_MIGRATIONS_DIR"
# Shipped inside the package (package data), so an installed wheel finds them from anywhere;
# the environment variable only overrides it.
_PACKAGED = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r'^revision(?:: *str)? *= *"([^"]+)"', re.MULTILINE)
_DOWN = re.compile(r'^down_revision(?:: *[\w |]+)? *= *(?:"([^"]+)"|None)', re.MULTILINE)


def migrations_dir() -> Path:
    configured = os.environ.get(MIGRATIONS_DIR_ENV)
    directory = Path(configured) if configured else _PACKAGED
    if not (directory / "env.py").is_file():
        raise FileNotFoundError(
            f"no Alembic migrations in {directory}: {MIGRATIONS_DIR_ENV} must name a "
            "failover-bot migrations folder (leave it unset to use the packaged one)"
        )
    return directory


def head_from_files(directory: Path) -> str | None:
    """The one revision no other revision follows; None when that is not plain to see (a
    branch, a file of another shape): then Alembic decides."""
    revisions, followed = set(), set()
    for path in (directory / "versions").glob("*.py"):
        source = path.read_text()
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            followed.add(down.group(1))
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None


def up_to_date(url: str | URL) -> bool:
    """The database is at this version's head (False whenever that cannot be told here)."""
    head = head_from_files(migrations_dir())
    if head is None:
        return False
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no such table, no database: Alembic says what it is
        return False
    finally:
        engine.dispose()
    return [row[0] for row in current] == [head]


def ensure_schema(url: str) -> None:
    """At start-up: nothing to do when up to date; else ``bot.store.migrate.ensure_schema``
    (migrate a SQLite file; say what PostgreSQL's operator must run) in a short-lived
    process of its own, so a long-lived process never keeps Alembic. Its failure is raised
    here as the same error, with the same words."""
    if up_to_date(url):
        return
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code; the URL on stdin
        [sys.executable, *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
         "-c", _MIGRATE], input=url, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return
    kind, _, words = result.stdout.strip().partition(": ")
    error = {"SchemaOutdated": SchemaOutdated, "StoreUnavailable": StoreUnavailable,
             "FileNotFoundError": FileNotFoundError}.get(kind)
    if error is None:
        said = result.stdout.strip() or result.stderr.strip()[-300:]
        raise RuntimeError(f"the schema check failed: {said}")
    raise error(words)


_MIGRATE = """
import sys
from bot.errors import SchemaOutdated
from bot.store.base import StoreUnavailable
from bot.store.migrate import ensure_schema
try:
    ensure_schema(sys.stdin.read())
except (SchemaOutdated, StoreUnavailable, FileNotFoundError) as exc:
    print(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    sys.exit(2)
"""
