"""Engines for SQLite and PostgreSQL, and the translation of driver errors; no queries here.

SQLite needs care a server does not: WAL, an immediate write lock, a file that may be made
read-only or deleted under a running bot (see the listeners below).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.store.base import StoreUnavailable
from bot.store.health import SqliteFile, is_read_only_error

SQLITE_BUSY_TIMEOUT_S = 30

P = ParamSpec("P")
T = TypeVar("T")


# -- engines -----------------------------------------------------------------------------------

def database_url(url: str | URL) -> URL:
    """The SQLAlchemy URL to use; plain ``postgresql://`` URLs get the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    _renew_read_only_connections(engine)
    return engine


def sqlite_file(engine: Engine) -> SqliteFile | None:
    """The file a SQLite engine watches (None for PostgreSQL and in-memory databases)."""
    return _SQLITE_FILES.get(engine)


_SQLITE_FILES: WeakKeyDictionary[Engine, SqliteFile] = WeakKeyDictionary()


def _renew_read_only_connections(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _read_only_is_a_disconnect(context: Any) -> None:
        # A connection opened while the database refused writes stays read-only after it
        # accepts them again (SQLite opens a write-protected file read-only; a PostgreSQL
        # session keeps its default_transaction_read_only): drop the pool's connections so
        # that the next unit of work gets fresh ones, with no restart.
        if context.original_exception is not None and is_read_only_error(
                context.original_exception):
            context.is_disconnect = True


def _writable(path: str) -> bool:
    # Effective ids and capabilities: what opening the file for writing would be allowed.
    return os.access(path, os.W_OK, effective_ids=True)


def _sqlite_engine(url: URL) -> Engine:
    path = url.database
    watched = None
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        watched = SqliteFile(str(Path(path).absolute()))
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    )
    if watched is not None:
        _SQLITE_FILES[engine] = watched

    @event.listens_for(engine, "do_connect")
    def _not_a_new_file(*_args: Any) -> None:
        # Opening the path again would create an empty database where the old one was.
        problem = watched.problem() if watched is not None else None
        if problem:
            raise sqlite3.OperationalError(problem)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit one is deferred, see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            # A write-protected file: still readable (status, audit); writes will say why.
            if not is_read_only_error(exc):
                raise
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if watched is not None:
            watched.remember()
            # SQLite opens a write-protected file read-only, silently, for good.
            record.info["opened_read_only"] = not _writable(watched.path)

    @event.listens_for(engine, "checkout")
    def _follow_permissions(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Write only while the file is writable: a connection opened before it was made
        # read-only would go on writing through its open file, one opened after could not,
        # so the bot would half work. One access() call per checkout.
        if watched is None:
            return
        writable = _writable(watched.path)
        if writable and record.info.get("opened_read_only"):
            # SQLite opened it read-only for good: the pool retries with a fresh one.
            raise DisconnectionError("opened while the database file was read-only")
        if record.info.get("query_only", False) != (not writable):
            dbapi_connection.execute(f"PRAGMA query_only = {0 if writable else 1}")
            record.info["query_only"] = not writable

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        problem = watched.problem() if watched is not None else None
        if problem:
            # Never write into a deleted file's inode: fail like an unreachable database.
            raise OperationalError("BEGIN", None, sqlite3.OperationalError(problem))
        # Take the write lock up front: a deferred transaction that reads and then writes
        # fails at once with "database is locked" instead of waiting its turn. A read-only
        # connection cannot take it, but can still read (a write then says why it failed).
        read_only = connection.info.get("query_only") or connection.info.get("opened_read_only")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


# One lock per SQLite file in this process. SQLite lets one writer in at a time and makes the
# others wait in its busy handler, which sleeps and retries (up to 100 ms a try) and is unfair:
# with dozens of poller threads, a transaction could wait seconds for a lock that was free
# most of that time. Threads of one process queue on this lock instead, and wake as soon as it
# is free; other processes (the front and the work process) still meet SQLite's busy handler.
_SQLITE_TURNS: dict[str, threading.RLock] = {}
_SQLITE_TURNS_GUARD = threading.Lock()


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Hold this process's turn to write to ``engine``'s SQLite file (nothing for PostgreSQL,
    whose row locks let writers in side by side)."""
    watched = _SQLITE_FILES.get(engine)
    if watched is None:
        yield
        return
    with _SQLITE_TURNS_GUARD:
        turn = _SQLITE_TURNS.setdefault(watched.path, threading.RLock())
    # As long as SQLite itself would wait, then the same error a busy database gives.
    if not turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
        raise StoreUnavailable("the database is unavailable: database is locked")
    try:
        yield
    finally:
        turn.release()


def session_factory(url: str | URL | Engine) -> sessionmaker[Session]:
    engine = url if isinstance(url, Engine) else make_engine(url)
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def unavailable(exc: DBAPIError) -> StoreUnavailable:
    lines = str(exc.orig).strip().splitlines()
    first_line = lines[0] if lines else type(exc.orig).__name__
    return StoreUnavailable(f"the database is unavailable: {first_line}")


def _is_unavailable(exc: DBAPIError) -> bool:
    """Unreachable, or refusing writes (a read-only file, a standby): either way, nothing
    was changed and the user is told the database is unavailable."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        exc.orig is not None and is_read_only_error(exc.orig))


def translating(method: Callable[P, T]) -> Callable[P, T]:
    """Callers see StoreUnavailable, never a driver's connection error."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            if _is_unavailable(exc):
                raise unavailable(exc) from exc
            raise

    return wrapper
