"""The requests repository on SQLModel: rows to requests and back, compare-and-set saves.

A request's life changes only through :meth:`SqlRequestRepository.save`, which writes the
request a domain method returned if the stored row still has the version it was read at.
The poller's leases and schedule (:mod:`bot.store.leases`) and what people were told
(:mod:`bot.store.announcements`) live on the same row but have their own repositories: they
never change the request's version.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.domain.model import OperationKind
from bot.domain.request import QUOTA_STATUSES, FailoverRequest, RequestStatus
from bot.store.base import HubLocked
from bot.store.engine import translating
from bot.store.rows import (
    SAVED_FIELDS,
    all_requests,
    first_request,
    plain,
    request_row,
    statuses_sql,
    to_request,
    update_request,
)
from bot.store.tables import OPEN_PREDICATE_SQL, FailoverRequestRow

Row = FailoverRequestRow
_OPEN_HUB_INDEX = "uq_failover_request_open_hub"


class SqlRequestRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def add(self, request: FailoverRequest) -> None:
        try:
            # A savepoint keeps the transaction usable, so the refusal can still be audited.
            with self._session.begin_nested():
                self._session.add(request_row(request))
        except IntegrityError as exc:
            message = str(exc.orig)
            if _OPEN_HUB_INDEX in message or "failover_request.hub_name" in message:
                raise HubLocked(f"{request.hub.name} already has an open request") from None
            raise

    @translating
    def get(self, request_id: str) -> FailoverRequest | None:
        row = self._session.get(Row, request_id, populate_existing=True)
        return to_request(row) if row else None

    @translating
    def open_for_hub(self, hub: str) -> FailoverRequest | None:
        # The literal predicate lets SQLite use the partial unique index.
        statement = select(Row).where(Row.hub_name == hub, text(OPEN_PREDICATE_SQL))
        return first_request(self._session, statement)

    @translating
    def open_requests(self, limit: int = 100) -> list[FailoverRequest]:
        # The literal predicate lets SQLite use the partial unique index.
        statement = (select(Row).where(text(OPEN_PREDICATE_SQL))
                     .order_by(col(Row.created_at).desc()).limit(limit))
        return all_requests(self._session, statement)

    @translating
    def save(self, request: FailoverRequest, expected_version: int) -> bool:
        values = {name: plain(getattr(request, name)) for name in SAVED_FIELDS}
        statement = (
            update(Row)
            .where(col(Row.id) == request.id, col(Row.version) == expected_version)
            .values(values)
        )
        return update_request(self._session, statement) is not None

    @translating
    def quota_starts(self, hub: str, kind: OperationKind, since: datetime) -> list[datetime]:
        statement = select(Row.decided_at).where(
            Row.hub_name == hub,
            Row.kind == kind.value,
            col(Row.status).in_(statuses_sql(QUOTA_STATUSES)),
            col(Row.decided_at) >= since,
        )
        return [at for at in self._session.exec(statement) if at is not None]

    @translating
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

    @translating
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

    @translating
    def recent(self, hub: str, limit: int = 5) -> list[FailoverRequest]:
        statement = (
            select(Row).where(Row.hub_name == hub)
            .order_by(col(Row.created_at).desc(), col(Row.id).desc()).limit(limit)
        )
        return all_requests(self._session, statement)

    @translating
    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[FailoverRequest]:
        statement = (
            select(Row)
            .where(Row.status == RequestStatus.AWAITING_APPROVAL.value,
                   col(Row.expires_at) <= now)
            .order_by(col(Row.expires_at)).limit(limit)
        )
        return all_requests(self._session, statement)

    @translating
    def count_running(self) -> int:
        statement = select(func.count()).select_from(Row).where(
            col(Row.status) == RequestStatus.RUNNING.value)
        return int(self._session.exec(statement).one())

    @translating
    def members(self, batch_id: str) -> list[FailoverRequest]:
        statement = (select(Row).where(Row.batch_id == batch_id)
                     .order_by(col(Row.batch_position), col(Row.created_at)))
        return all_requests(self._session, statement)

    @translating
    def last_batch_slot(self) -> datetime | None:
        """The latest start slot given to a batch's hub not started yet (pacing goes on
        after it)."""
        statement = select(func.max(Row.next_poll_at)).where(
            Row.status == RequestStatus.APPROVED.value, col(Row.batch_id).is_not(None))
        return self._session.exec(statement).one()
