"""The front's own write of acked lazy jobs, for the moments its work process cannot take
them (dead, restarting, given up): so a job acked then is in the database, and the next work
process (or the next bot) runs it. Straight to the driver — ``sqlite3``, or ``psycopg``
imported on the first such write — so the front, alive for the bot's whole life, carries no
SQLAlchemy for a rare case. The rows are ``JobStore``'s (bot.store.job_rows); an id already
stored is skipped, as the work process may have stored it before it died.

A SQLite file is written only while it is the file first opened: one deleted or replaced
under the bot (``bot.store.health``) is refused, never written into an unlinked inode.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.store.base import StoreUnavailable
from bot.store.job_rows import COLUMNS, StoredJob, to_row

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's SQLite DateTime writes (UTC)


class JobSpool:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        scheme = urlsplit(database_url).scheme.lower()
        self._sqlite = scheme.startswith("sqlite")
        path = _sqlite_path(database_url) if self._sqlite else None
        # The file as the work process migrated it, before the front serves.
        self._identity = _identity(path) if path else None
        self._lock = threading.Lock()

    def add(self, jobs: Sequence[StoredJob]) -> None:
        """Store ``jobs`` unclaimed; ``StoreUnavailable`` if the database cannot take them."""
        if not jobs:
            return
        rows = [to_row(job) for job in jobs]
        with self._lock:
            try:
                if self._sqlite:
                    self._add_sqlite(rows)
                else:
                    self._add_postgresql(rows)
            except StoreUnavailable:
                raise
            except Exception as exc:  # the driver's errors, whatever their class
                raise StoreUnavailable(f"the database is unavailable: {type(exc).__name__}: "
                                       f"{exc}") from None

    def _add_sqlite(self, rows: list[dict[str, Any]]) -> None:
        path = _sqlite_path(self._url)
        if path is None:
            raise StoreUnavailable("the database is in memory: nothing outlives the process")
        identity = _identity(path)
        if identity is None or (self._identity is not None and identity != self._identity):
            raise StoreUnavailable(f"the SQLite database file {path} was deleted or replaced")
        self._identity = identity
        for row in rows:
            for name in ("created_at", "lease_expires_at"):
                if row[name] is not None:
                    row[name] = row[name].astimezone(UTC).strftime(_SQLITE_TIME)
        connection = sqlite3.connect(path, timeout=10)
        try:
            with connection:
                connection.executemany(
                    f"INSERT OR IGNORE INTO lazy_job ({', '.join(COLUMNS)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    [tuple(row[name] for name in COLUMNS) for row in rows])
        finally:
            connection.close()

    def _add_postgresql(self, rows: list[dict[str, Any]]) -> None:
        import psycopg

        with psycopg.connect(_libpq_url(self._url), connect_timeout=10) as connection:
            connection.cursor().executemany(
                f"INSERT INTO lazy_job ({', '.join(COLUMNS)}) "  # noqa: S608
                f"VALUES ({', '.join('%s' for _ in COLUMNS)}) ON CONFLICT (id) DO NOTHING",
                [tuple(row[name] for name in COLUMNS) for row in rows])


def _sqlite_path(url: str) -> str | None:
    """``sqlite:///relative.db`` → ``relative.db``, ``sqlite:////abs.db`` → ``/abs.db``;
    None for an in-memory database."""
    path = unquote(url.split("://", 1)[1]).split("?", 1)[0]
    path = path[1:] if path.startswith("/") else path
    return None if path in ("", ":memory:") else path


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy's form) as libpq takes it."""
    return "postgresql://" + url.split("://", 1)[1]


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
