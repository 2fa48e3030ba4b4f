"""Lazy jobs in the database: the work after each Slack ack survives the process doing it.

The front inserts each job (in batches, after its ack); a work process claims jobs with a
lease under an owner token, renews the lease while it lives, and deletes each job once it is
done. A claim whose owner is known to be dead is released at once (:meth:`JobStore.release`);
one whose owner vanished with its whole host lapses with its lease. Either way the job is
claimed again and re-run, so every job runs at least once; a job done just before its owner
died may run twice. Core SQL only: the front's writer thread shares the GIL with its acks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, and_, delete, event, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.store.base import StoreUnavailable
from bot.store.job_rows import StoredJob, to_row
from bot.store.sql import make_engine, writer_turn
from bot.store.tables import LazyJobRow

_JOB = LazyJobRow.__table__  # type: ignore[attr-defined]
_COLUMNS = _JOB.c


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JobStore:
    """The ``lazy_job`` table; every method is one short transaction."""

    def __init__(self, url: str | URL | Engine, *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = url if isinstance(url, Engine) else make_engine(url)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _no_fsync_per_commit)
        self._now = clock
        self._compiled_insert: _Insert | None = None

    def add(self, jobs: Sequence[StoredJob]) -> None:
        """Insert ``jobs`` unclaimed, in one statement; ids already stored are left as they
        are (the front sends a batch again when its work process died before saying it was
        stored).

        Straight to the driver (one executemany with the statement compiled once): a burst
        of acks is a batch a few milliseconds, and SQLAlchemy's per-row work would add up.
        """
        if not jobs:
            return
        with self._transaction() as connection:
            stored = set(connection.execute(
                select(_JOB.c.id).where(_JOB.c.id.in_([job.id for job in jobs]))).scalars())
            new = [job for job in jobs if job.id not in stored]
            if not new:
                return
            insert = self._insert(connection)
            connection.exec_driver_sql(insert.sql, [insert.params(to_row(job)) for job in new])

    def _insert(self, connection: Connection) -> _Insert:
        if self._compiled_insert is None:
            self._compiled_insert = _Insert(connection.dialect)
        return self._compiled_insert

    def claim(self, owner: str, ids: Sequence[str], lease: timedelta) -> set[str]:
        """Claim those of ``ids`` nobody holds; returns the ids now ours."""
        if not ids:
            return set()
        statement = (
            update(_JOB)
            .where(_COLUMNS.id.in_(list(ids)), _COLUMNS.owner.is_(None))
            .values(owner=owner, lease_expires_at=self._now() + lease,
                    attempts=_COLUMNS.attempts + 1)
            .returning(_COLUMNS.id))
        with self._transaction() as connection:
            return set(connection.execute(statement).scalars())

    def claim_due(self, owner: str, lease: timedelta, *, unclaimed_for: timedelta,
                  limit: int = 100) -> list[StoredJob]:
        """Claim jobs nobody took for ``unclaimed_for`` (their wake-up was lost, or they were
        released), and jobs whose owner's lease lapsed; oldest first."""
        now = self._now()
        due = or_(and_(_COLUMNS.owner.is_(None), _COLUMNS.created_at <= now - unclaimed_for),
                  _COLUMNS.lease_expires_at <= now)
        candidates = select(_COLUMNS.id).where(due).order_by(_COLUMNS.created_at).limit(limit)
        with self._transaction() as connection:
            if connection.dialect.name == "postgresql":
                # Rows another work process is claiming right now are skipped, not waited for.
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(connection.execute(candidates).scalars())
            if not ids:
                return []
            # The condition again: on SQLite the write lock (BEGIN IMMEDIATE) is the lock.
            statement = (
                update(_JOB).where(_COLUMNS.id.in_(ids), due)
                .values(owner=owner, lease_expires_at=now + lease,
                        attempts=_COLUMNS.attempts + 1)
                .returning(*_JOB.c))
            rows = connection.execute(statement).mappings().all()
        return sorted((_to_job(row) for row in rows), key=lambda job: job.created_at)

    def renew(self, owner: str, lease: timedelta) -> int:
        """Extend the lease on every job ``owner`` holds; how many it holds."""
        statement = (update(_JOB).where(_COLUMNS.owner == owner)
                     .values(lease_expires_at=self._now() + lease))
        with self._transaction() as connection:
            return int(connection.execute(statement).rowcount or 0)

    def done(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._transaction() as connection:
            connection.execute(delete(_JOB).where(_COLUMNS.id.in_(list(ids))))

    def release(self, owner: str) -> int:
        """Give back every job ``owner`` holds (it is dead); how many there were."""
        statement = (update(_JOB).where(_COLUMNS.owner == owner)
                     .values(owner=None, lease_expires_at=None))
        with self._transaction() as connection:
            return int(connection.execute(statement).rowcount or 0)

    def pending(self) -> list[StoredJob]:
        """Every job not done yet, oldest first (for tests and the operator)."""
        with self._transaction() as connection:
            rows = connection.execute(
                select(_JOB).order_by(_COLUMNS.created_at)).mappings().all()
        return [_to_job(row) for row in rows]

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with writer_turn(self._engine), self._engine.begin() as connection:
                yield connection
        except (OperationalError, InterfaceError) as exc:
            lines = str(exc.orig).strip().splitlines()
            raise StoreUnavailable(
                f"the database is unavailable: {lines[0] if lines else exc}") from exc


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    # The hand-over must survive a killed process, which WAL with synchronous=NORMAL gives: a
    # commit is in the WAL file (the OS's page cache) before the job is sent to the work
    # process. Only a power loss could lose the latest commits, and with them the front that
    # acked them. The fsync per commit was most of the front's CPU beyond a bare Bolt app's.
    # Per connection: the store's other writers (the audit log) keep SQLite's full sync.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class _Insert:
    """The INSERT compiled for one dialect, and how to turn a row into its parameters."""

    def __init__(self, dialect: Dialect) -> None:
        compiled = _JOB.insert().compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = list(compiled.positiontup or []) if dialect.positional else None
        self._processors = {column.name: processor for column in _JOB.c
                            if (processor := column.type.bind_processor(dialect)) is not None}

    def params(self, row: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        for name, process in self._processors.items():
            row[name] = process(row[name])
        return tuple(row[name] for name in self._order) if self._order is not None else row


def _to_job(row: Any) -> StoredJob:
    # Over HTTP the body is the raw form body Bolt verified; in Socket Mode it was parsed.
    body: str | dict[str, Any] = row["body"] if row["mode"] == "http" else json.loads(row["body"])
    return StoredJob(id=row["id"], function=row["function"], mode=row["mode"], body=body,
                     headers=json.loads(row["headers"]), request_id=row["request_id"],
                     created_at=row["created_at"], attempts=row["attempts"])
