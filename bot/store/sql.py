"""The store on SQLModel (SQLite or PostgreSQL); SQL never leaves this module."""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, and_, case, create_engine, event, func, or_, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from bot.domain.model import (
    QUOTA_STATUSES,
    AuditAction,
    AuditEvent,
    FailoverRequest,
    HubRef,
    OperationKind,
    RequestStatus,
)
from bot.store.base import AuditQuery, HubLocked, StoreUnavailable
from bot.store.health import DatabaseHealth, SqliteFile, is_read_only_error, probe
from bot.store.tables import (
    OPEN_PREDICATE_SQL,
    UNNOTIFIED_PREDICATE_SQL,
    AuditEventRow,
    FailoverRequestRow,
)

Row = FailoverRequestRow
SQLITE_BUSY_TIMEOUT_S = 30
POLLED_STATUSES = (RequestStatus.APPROVED.value, RequestStatus.RUNNING.value)
ENDED_STATUSES = (RequestStatus.SUCCEEDED.value, RequestStatus.FAILED.value)
_OPEN_HUB_INDEX = "uq_failover_request_open_hub"
# Columns a caller may set through update()/transition(): everything but identity and state.
_SETTABLE = frozenset(Row.model_fields) - {
    "id", "status", "version", "hub_name", "subscription_id", "resource_group",
}

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


def session_factory(url: str | URL | Engine) -> sessionmaker[Session]:
    engine = url if isinstance(url, Engine) else make_engine(url)
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


def _unavailable(exc: DBAPIError) -> StoreUnavailable:
    lines = str(exc.orig).strip().splitlines()
    first_line = lines[0] if lines else type(exc.orig).__name__
    return StoreUnavailable(f"the database is unavailable: {first_line}")


def _is_unavailable(exc: DBAPIError) -> bool:
    """Unreachable, or refusing writes (a read-only file, a standby): either way, nothing
    was changed and the user is told the database is unavailable."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        exc.orig is not None and is_read_only_error(exc.orig))


def _translating(method: Callable[P, T]) -> Callable[P, T]:
    """Callers see StoreUnavailable, never a driver's connection error."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except DBAPIError as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    return wrapper


# -- mapping -----------------------------------------------------------------------------------

_REQUEST_FIELDS = [f.name for f in fields(FailoverRequest) if f.name != "hub"]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _to_row(request: FailoverRequest) -> FailoverRequestRow:
    values = {name: _plain(getattr(request, name)) for name in _REQUEST_FIELDS}
    return FailoverRequestRow(
        hub_name=request.hub.name,
        subscription_id=request.hub.subscription_id,
        resource_group=request.hub.resource_group,
        **values,
    )


def _to_request(row: FailoverRequestRow) -> FailoverRequest:
    values = {name: getattr(row, name) for name in _REQUEST_FIELDS}
    values["kind"] = OperationKind(row.kind)
    values["status"] = RequestStatus(row.status)
    hub = HubRef(row.hub_name, row.subscription_id, row.resource_group)
    return FailoverRequest(hub=hub, **values)


def _settable(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - _SETTABLE
    if unknown:
        raise ValueError(f"cannot set {', '.join(sorted(unknown))} on a request")
    return {name: _plain(value) for name, value in changes.items()}


def _statuses(statuses: Collection[RequestStatus]) -> list[str]:
    return [_plain(status) for status in statuses]


# -- repositories ------------------------------------------------------------------------------

class SqlRequestRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    @_translating
    def add(self, request: FailoverRequest) -> None:
        try:
            # A savepoint keeps the transaction usable, so the refusal can still be audited.
            with self._session.begin_nested():
                self._session.add(_to_row(request))
        except IntegrityError as exc:
            message = str(exc.orig)
            if _OPEN_HUB_INDEX in message or "failover_request.hub_name" in message:
                raise HubLocked(f"{request.hub.name} already has an open request") from None
            raise

    @_translating
    def get(self, request_id: str) -> FailoverRequest | None:
        row = self._session.get(Row, request_id, populate_existing=True)
        return _to_request(row) if row else None

    @_translating
    def open_for_hub(self, hub: str) -> FailoverRequest | None:
        # The literal predicate lets SQLite use the partial unique index.
        statement = select(Row).where(Row.hub_name == hub, text(OPEN_PREDICATE_SQL))
        return self._first(statement)

    @_translating
    def transition(self, request_id: str, expected: Collection[RequestStatus],
                   new_status: RequestStatus, **changes: Any) -> FailoverRequest | None:
        values = _settable(changes)
        values.update(status=new_status.value, version=col(Row.version) + 1)
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.status).in_(_statuses(expected)))
            .values(values)
        )
        return self._update_returning(statement)

    @_translating
    def update(self, request_id: str, **changes: Any) -> FailoverRequest | None:
        values: dict[str, Any] = _settable(changes)
        if "notified_version" in values:
            # Never move backwards when two notifiers race.
            notified = values["notified_version"]
            values["notified_version"] = case(
                (col(Row.notified_version) < notified, notified),
                else_=col(Row.notified_version),
            )
        if not values:
            return self.get(request_id)
        statement = update(Row).where(col(Row.id) == request_id).values(values)
        return self._update_returning(statement)

    @_translating
    def quota_starts(self, hub: str, kind: OperationKind, since: datetime) -> list[datetime]:
        statement = select(Row.decided_at).where(
            Row.hub_name == hub,
            Row.kind == kind.value,
            col(Row.status).in_(_statuses(QUOTA_STATUSES)),
            col(Row.decided_at) >= since,
        )
        return [at for at in self._session.exec(statement) if at is not None]

    @_translating
    def last_completed(self, hub: str, kind: OperationKind) -> datetime | None:
        statement = (
            select(Row.completed_at)
            .where(Row.hub_name == hub, Row.kind == kind.value,
                   Row.status == RequestStatus.SUCCEEDED.value,
                   col(Row.completed_at).is_not(None))
            .order_by(col(Row.completed_at).desc())
            .limit(1)
        )
        return self._session.exec(statement).first()

    @_translating
    def recent_durations(self, hub: str, limit: int = 5) -> list[timedelta]:
        statement = (
            select(Row.started_at, Row.completed_at)
            .where(Row.hub_name == hub, Row.status == RequestStatus.SUCCEEDED.value,
                   col(Row.started_at).is_not(None), col(Row.completed_at).is_not(None))
            .order_by(col(Row.completed_at).desc())
            .limit(limit)
        )
        return [end - start for start, end in self._session.exec(statement)
                if start is not None and end is not None]

    @_translating
    def recent(self, hub: str, limit: int = 5) -> list[FailoverRequest]:
        statement = (
            select(Row).where(Row.hub_name == hub)
            .order_by(col(Row.created_at).desc(), col(Row.id).desc()).limit(limit)
        )
        return self._all(statement)

    @_translating
    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[FailoverRequest]:
        statement = (
            select(Row)
            .where(Row.status == RequestStatus.AWAITING_APPROVAL.value,
                   col(Row.expires_at) <= now)
            .order_by(col(Row.expires_at)).limit(limit)
        )
        return self._all(statement)

    @_translating
    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[FailoverRequest]:
        claimable = or_(col(Row.lease_owner).is_(None), col(Row.lease_owner) == owner,
                        col(Row.lease_expires_at).is_(None), col(Row.lease_expires_at) <= now)
        due = and_(col(Row.status).in_(POLLED_STATUSES), col(Row.next_poll_at) <= now)
        # A finished request whose end was never announced is owed a notice; one whose lease
        # we hold is already queued with us, so only free or lapsed leases are taken.
        owed = and_(col(Row.status).in_(ENDED_STATUSES),
                    col(Row.notified_version) < col(Row.version),
                    or_(col(Row.lease_expires_at).is_(None), col(Row.lease_expires_at) <= now))
        queries = [
            select(Row.id).where(due, claimable).order_by(col(Row.next_poll_at)).limit(limit),
            select(Row.id).where(owed).order_by(col(Row.id)).limit(limit),
        ]
        if self._dialect == "postgresql":
            # Rows another worker is claiming right now are skipped, not waited for.
            queries = [q.with_for_update(skip_locked=True) for q in queries]
        candidates = [i for q in queries for i in self._session.exec(q)][:limit]
        claimed = []
        for request_id in candidates:
            # Conditional per row: on SQLite the lease check itself is the lock.
            statement = (
                update(Row)
                .where(col(Row.id) == request_id, or_(and_(due, claimable), owed))
                .values(lease_owner=owner, lease_expires_at=now + lease)
            )
            request = self._update_returning(statement)
            if request is not None:
                claimed.append(request)
        return claimed

    @_translating
    def renew_lease(self, request_id: str, owner: str, until: datetime) -> bool:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_expires_at=until)
        )
        return self._update_returning(statement) is not None

    @_translating
    def release_lease(self, request_id: str, owner: str, next_poll_at: datetime) -> None:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None, next_poll_at=next_poll_at)
        )
        self._update_returning(statement)

    @_translating
    def live_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        statement = (
            select(Row.id, Row.lease_owner)
            .where(col(Row.lease_owner).is_not(None), col(Row.lease_expires_at) > now)
            .order_by(col(Row.id)).limit(limit)
        )
        return [(request_id, owner) for request_id, owner in self._session.exec(statement)
                if owner is not None]

    @_translating
    def count_running(self) -> int:
        statement = select(func.count()).select_from(Row).where(
            col(Row.status) == RequestStatus.RUNNING.value)
        return int(self._session.exec(statement).one())

    @_translating
    def unnotified(self, limit: int = 100) -> list[FailoverRequest]:
        # The literal predicate matches the partial index, which holds only these rows.
        statement = (
            select(Row).where(text(UNNOTIFIED_PREDICATE_SQL)).order_by(col(Row.id)).limit(limit)
        )
        return self._all(statement)

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    def _first(self, statement: Any) -> FailoverRequest | None:
        row = self._session.exec(statement.execution_options(populate_existing=True)).first()
        return _to_request(row) if row is not None else None

    def _all(self, statement: Any) -> list[FailoverRequest]:
        rows = self._session.exec(statement.execution_options(populate_existing=True))
        return [_to_request(row) for row in rows]

    def _update_returning(self, statement: Any) -> FailoverRequest | None:
        row = self._session.scalars(
            statement.returning(Row),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).one_or_none()
        return _to_request(row) if row is not None else None


class SqlAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    @_translating
    def append(self, event: AuditEvent) -> None:
        self._session.add(AuditEventRow(
            at=event.at,
            action=event.action.value,
            actor=event.actor,
            hub=event.hub,
            request_id=event.request_id,
            kind=_plain(event.kind),
            detail=json.dumps(event.detail, default=str, sort_keys=True),
        ))
        self._session.flush()

    @_translating
    def search(self, query: AuditQuery) -> list[AuditEvent]:
        statement = select(AuditEventRow)
        if query.hub is not None:
            statement = statement.where(AuditEventRow.hub == query.hub)
        if query.user is not None:
            statement = statement.where(AuditEventRow.actor == query.user)
        if query.kind is not None:
            statement = statement.where(AuditEventRow.kind == query.kind.value)
        if query.actions:
            statement = statement.where(
                col(AuditEventRow.action).in_(sorted(_plain(a) for a in query.actions)))
        if query.request_id is not None:
            statement = statement.where(AuditEventRow.request_id == query.request_id)
        if query.since is not None:
            statement = statement.where(col(AuditEventRow.at) >= query.since)
        if query.until is not None:
            statement = statement.where(col(AuditEventRow.at) < query.until)
        statement = (
            statement.order_by(col(AuditEventRow.at).desc(), col(AuditEventRow.id).desc())
            .offset(query.offset).limit(query.limit)
        )
        return [_to_event(row) for row in self._session.exec(statement)]


def _to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        at=row.at,
        action=AuditAction(row.action),
        actor=row.actor,
        hub=row.hub,
        request_id=row.request_id,
        kind=OperationKind(row.kind) if row.kind else None,
        detail=json.loads(row.detail) if row.detail else {},
        id=row.id,
    )


# -- unit of work ------------------------------------------------------------------------------

class SqlUnitOfWork:
    """``with uow:`` … ``uow.commit()``; leaving without a commit rolls back."""

    requests: SqlRequestRepository
    events: SqlAuditLog

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def __enter__(self) -> Self:
        self._session = self._sessions()
        try:
            # Connect now, so an unreachable database fails before any work is done.
            self._session.connection()
        except (OperationalError, InterfaceError) as exc:
            self._session.close()
            raise _unavailable(exc) from exc
        self.requests = SqlRequestRepository(self._session)
        self.events = SqlAuditLog(self._session)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.rollback()
        finally:
            self._session.close()

    @_translating
    def commit(self) -> None:
        self._session.commit()

    def rollback(self) -> None:
        self._session.rollback()


class SqlUnitOfWorkFactory:
    """What bootstrap hands to the use cases: a fresh unit of work per call, and the
    database's health (can the bot write?) for /healthz and /readyz."""

    def __init__(self, url: str | URL | Engine) -> None:
        self._sessions = session_factory(url)
        engine = self._sessions.kw["bind"]
        assert isinstance(engine, Engine)
        self.engine = engine

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions)

    def health(self) -> DatabaseHealth:
        return probe(self.engine, sqlite_file(self.engine))


def unit_of_work_factory(url: str | URL | Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(url)

