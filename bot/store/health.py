"""Whether the bot can WRITE to its database, not merely reach it.

A database that answers reads but refuses writes (a read-only SQLite file, a PostgreSQL
standby or ``default_transaction_read_only``) must show on ``/readyz``; so must a SQLite file
that was deleted or replaced under a running bot, whose open connections would otherwise go on
writing into an unlinked inode that nobody will ever read.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

WRITABLE, READ_ONLY, UNREACHABLE, REPLACED = "writable", "read-only", "unreachable", "replaced"
PROBE_TIMEOUT_S = 1.0
# A write that changes nothing: the engine still has to take the write path, so a read-only
# database refuses it (BEGIN IMMEDIATE alone succeeds on a read-only SQLite connection).
PROBE_SQL = "DELETE FROM failover_request WHERE 1 = 0"
PG_READ_ONLY_SQLSTATES = frozenset({"25006"})  # read_only_sql_transaction (standby, default)


@dataclass(frozen=True)
class DatabaseHealth:
    state: str  # WRITABLE, READ_ONLY, UNREACHABLE or REPLACED
    detail: str = ""

    @property
    def writable(self) -> bool:
        return self.state == WRITABLE


_REPORTED: set[tuple[str, tuple[int, int]]] = set()
_REPORTED_LOCK = threading.Lock()


class SqliteFile:
    """The identity (device, inode) of a SQLite file as the bot first opened it.

    Connections hold the file open: once it is deleted or replaced, they keep working on the
    old inode, so nothing fails and everything written is lost. Every transaction checks the
    path still names the same file (one stat call) and refuses otherwise.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        # Now if the file exists (bootstrap migrates first), else at the first connection.
        self._identity: tuple[int, int] | None = _identity(path)
        self._lock = threading.Lock()

    def remember(self) -> None:
        """Record the file's identity at the first connection (which may have created it)."""
        with self._lock:
            if self._identity is None:
                self._identity = _identity(self.path)

    def problem(self) -> str | None:
        """Why this file is no longer the one the bot opened, or None."""
        if self._identity is None:
            return None
        current = _identity(self.path)
        if current == self._identity:
            return None
        what = "deleted" if current is None else "replaced"
        message = (f"the SQLite database file {self.path} was {what} while the bot was running; "
                   "refusing to write to the old file: restore it and restart the bot")
        # One clear line per process, not one per transaction, probe or engine (a process
        # may hold several engines on one file: the unit of work's and the job store's).
        seen = (self.path, self._identity)
        with _REPORTED_LOCK:
            first = seen not in _REPORTED
            _REPORTED.add(seen)
        if first:
            log.error(message, extra={"pid": os.getpid()})
        return message


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def is_read_only_error(exc: BaseException) -> bool:
    """A driver error saying this connection may not write (worth a fresh connection)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "readonly database" in str(exc)
    return getattr(exc, "sqlstate", None) in PG_READ_ONLY_SQLSTATES


def probe(engine: Engine, sqlite_file: SqliteFile | None = None) -> DatabaseHealth:
    """Try a write that changes nothing, and roll it back."""
    if sqlite_file is not None:
        problem = sqlite_file.problem()
        if problem:
            return DatabaseHealth(REPLACED, problem)
        health = _probe_sqlite(sqlite_file.path)
        if health.writable:
            sqlite_file.remember()  # a file that did not exist yet at start-up
        return health
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text(PROBE_SQL))
            transaction.rollback()
    except DBAPIError as exc:
        if exc.orig is not None and is_read_only_error(exc.orig):
            return DatabaseHealth(READ_ONLY, _first_line(exc.orig))
        return DatabaseHealth(UNREACHABLE, _first_line(exc.orig or exc))
    return DatabaseHealth(WRITABLE)


def _probe_sqlite(path: str) -> DatabaseHealth:
    # A connection of its own, not a pooled one: a pooled connection opened before the file
    # became read-only still writes, but every new one would not.
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=PROBE_TIMEOUT_S,
                                     isolation_level=None)
    except sqlite3.Error as exc:
        return DatabaseHealth(UNREACHABLE, _first_line(exc))
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(PROBE_SQL)
        connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if is_read_only_error(exc):
            return DatabaseHealth(READ_ONLY, _first_line(exc))
        if "locked" in str(exc):  # another connection is writing: so can we, in turn
            return DatabaseHealth(WRITABLE, "busy")
        return DatabaseHealth(UNREACHABLE, _first_line(exc))
    finally:
        connection.close()
    return DatabaseHealth(WRITABLE)


def _first_line(exc: Any) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
