"""The store on SQLModel (SQLite or PostgreSQL): the unit of work and its factory.

SQL never leaves the store package: engines in :mod:`bot.store.engine`, the repositories in
:mod:`bot.store.requests`, :mod:`bot.store.leases`, :mod:`bot.store.announcements`,
:mod:`bot.store.events`, :mod:`bot.store.batches` and :mod:`bot.store.pace`.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.store.announcements import SqlAnnouncements
from bot.store.batches import SqlBatchRepository
from bot.store.consumer_actions import SqlConsumerActions
from bot.store.drills import SqlDrills
from bot.store.engine import (
    database_url,
    make_engine,
    session_factory,
    sqlite_file,
    translating,
    unavailable,
    writer_turn,
)
from bot.store.events import SqlAuditLog
from bot.store.health import DatabaseHealth, probe
from bot.store.leases import SqlPollLeases
from bot.store.pace import SqlStartPace
from bot.store.requests import SqlRequestRepository
from bot.store.verifications import SqlVerifications

__all__ = [
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "database_url",
    "make_engine",
    "session_factory",
    "sqlite_file",
    "unit_of_work_factory",
    "writer_turn",
]


# -- unit of work ------------------------------------------------------------------------------

class SqlUnitOfWork:
    """``with uow:`` … ``uow.commit()``; leaving without a commit rolls back."""

    requests: SqlRequestRepository
    leases: SqlPollLeases
    announcements: SqlAnnouncements
    events: SqlAuditLog
    batches: SqlBatchRepository
    pace: SqlStartPace

    def __init__(self, sessions: sessionmaker[Session], engine: Engine) -> None:
        self._sessions = sessions
        self._engine = engine

    def __enter__(self) -> Self:
        # On SQLite the transaction holds the file's write lock from its start (BEGIN
        # IMMEDIATE); the process's threads queue for it here first.
        self._turn = ExitStack()
        self._turn.enter_context(writer_turn(self._engine))
        self._session = self._sessions()
        try:
            try:
                # Connect now, so an unreachable database fails before any work is done.
                self._session.connection()
            except (OperationalError, InterfaceError) as exc:
                raise unavailable(exc) from exc
        except BaseException:
            self._session.close()
            self._turn.close()
            raise
        self.requests = SqlRequestRepository(self._session)
        self.leases = SqlPollLeases(self._session)
        self.announcements = SqlAnnouncements(self._session)
        self.events = SqlAuditLog(self._session)
        self.batches = SqlBatchRepository(self._session)
        self.pace = SqlStartPace(self._session)
        self.verifications = SqlVerifications(self._session)
        self.consumer_actions = SqlConsumerActions(self._session)
        self.drills = SqlDrills(self._session)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            try:
                self._session.close()
            finally:
                self._turn.close()

    @translating
    def commit(self) -> None:
        self._session.commit()

    def rollback(self) -> None:
        self._session.rollback()


class SqlUnitOfWorkFactory:
    """What bootstrap hands to the use cases: a fresh unit of work per call, and the
    database's health (can the bot write?) for /healthz and /readyz."""

    def __init__(self, url: str | URL | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else make_engine(url)
        self._sessions = session_factory(self.engine)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self.engine)

    def health(self) -> DatabaseHealth:
        return probe(self.engine, sqlite_file(self.engine))


def unit_of_work_factory(url: str | URL | Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(url)
