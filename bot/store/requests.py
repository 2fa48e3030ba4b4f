"""The requests repository on SQLModel: rows to requests and back, compare-and-set saves.

A request's life changes only through :meth:`SqlRequestRepository.save`, which writes the
request a domain method returned if the stored row still has the version it was read at.
The poller's bookkeeping (leases, next poll, where and up to which version it was announced)
has its own typed methods: it never changes the request's version.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.domain.model import OperationKind
from bot.domain.request import (
    POLLED_STATUSES,
    QUOTA_STATUSES,
    RAN_ENDS,
    FailoverRequest,
    RequestStatus,
)
from bot.store.base import HubLocked
from bot.store.engine import translating
from bot.store.rows import SAVED_FIELDS, plain, request_row, statuses_sql, to_request
from bot.store.tables import OPEN_PREDICATE_SQL, UNNOTIFIED_PREDICATE_SQL, FailoverRequestRow

Row = FailoverRequestRow
_OPEN_HUB_INDEX = "uq_failover_request_open_hub"


# -- repositories ------------------------------------------------------------------------------

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
        return self._first(statement)

    @translating
    def open_requests(self, limit: int = 100) -> list[FailoverRequest]:
        # The literal predicate lets SQLite use the partial unique index.
        statement = (select(Row).where(text(OPEN_PREDICATE_SQL))
                     .order_by(col(Row.created_at).desc()).limit(limit))
        return self._all(statement)

    @translating
    def save(self, request: FailoverRequest, expected_version: int) -> bool:
        values = {name: plain(getattr(request, name)) for name in SAVED_FIELDS}
        statement = (
            update(Row)
            .where(col(Row.id) == request.id, col(Row.version) == expected_version)
            .values(values)
        )
        return self._update_returning(statement) is not None

    @translating
    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        values = {name: ts for name, ts in (("message_ts", message_ts),
                                            ("status_message_ts", status_message_ts)) if ts}
        if values:
            self._update_returning(update(Row).where(col(Row.id) == request_id).values(values))

    @translating
    def mark_notified(self, request_id: str, version: int) -> None:
        # Never move backwards when two notifiers race.
        notified = case((col(Row.notified_version) < version, version),
                        else_=col(Row.notified_version))
        statement = update(Row).where(col(Row.id) == request_id).values(
            notified_version=notified)
        self._update_returning(statement)

    @translating
    def schedule_poll(self, request_id: str, next_poll_at: datetime) -> None:
        statement = update(Row).where(col(Row.id) == request_id).values(
            next_poll_at=next_poll_at)
        self._update_returning(statement)

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
        return self._all(statement)

    @translating
    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[FailoverRequest]:
        statement = (
            select(Row)
            .where(Row.status == RequestStatus.AWAITING_APPROVAL.value,
                   col(Row.expires_at) <= now)
            .order_by(col(Row.expires_at)).limit(limit)
        )
        return self._all(statement)

    @translating
    def claim_due(self, owner: str, now: datetime, lease: timedelta, limit: int, *,
                  skip: Collection[str] = ()) -> list[FailoverRequest]:
        claimable = or_(col(Row.lease_owner).is_(None), col(Row.lease_owner) == owner,
                        col(Row.lease_expires_at).is_(None), col(Row.lease_expires_at) <= now)
        due = and_(col(Row.status).in_(statuses_sql(POLLED_STATUSES)),
                   col(Row.next_poll_at) <= now)
        if skip:
            due = and_(due, col(Row.id).not_in(list(skip)))
        # A finished request whose end was never announced is owed a notice; one whose lease
        # we hold is already queued with us, so only free or lapsed leases are taken.
        # (A batch's hubs are announced on its board, by the board's keeper.)
        owed = and_(col(Row.status).in_(statuses_sql(RAN_ENDS)),
                    col(Row.notified_version) < col(Row.version),
                    col(Row.batch_id).is_(None),
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

    @translating
    def take_lease(self, request_id: str, owner: str, until: datetime) -> None:
        statement = (
            update(Row).where(col(Row.id) == request_id)
            .values(lease_owner=owner, lease_expires_at=until)
        )
        self._update_returning(statement)

    @translating
    def renew_lease(self, request_id: str, owner: str, until: datetime) -> bool:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_expires_at=until)
        )
        return self._update_returning(statement) is not None

    @translating
    def release_lease(self, request_id: str, owner: str, next_poll_at: datetime) -> None:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None, next_poll_at=next_poll_at)
        )
        self._update_returning(statement)

    @translating
    def live_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        statement = (
            select(Row.id, Row.lease_owner)
            .where(col(Row.lease_owner).is_not(None), col(Row.lease_expires_at) > now)
            .order_by(col(Row.id)).limit(limit)
        )
        return [(request_id, owner) for request_id, owner in self._session.exec(statement)
                if owner is not None]

    @translating
    def count_running(self) -> int:
        statement = select(func.count()).select_from(Row).where(
            col(Row.status) == RequestStatus.RUNNING.value)
        return int(self._session.exec(statement).one())

    @translating
    def unnotified(self, limit: int = 100) -> list[FailoverRequest]:
        # The literal predicate matches the partial index, which holds only these rows.
        statement = (
            select(Row).where(text(UNNOTIFIED_PREDICATE_SQL), col(Row.batch_id).is_(None))
            .order_by(col(Row.id)).limit(limit)
        )
        return self._all(statement)

    @translating
    def members(self, batch_id: str) -> list[FailoverRequest]:
        statement = (select(Row).where(Row.batch_id == batch_id)
                     .order_by(col(Row.batch_position), col(Row.created_at)))
        return self._all(statement)

    @translating
    def unnotified_members(self, batch_id: str) -> list[FailoverRequest]:
        statement = select(Row).where(Row.batch_id == batch_id,
                                      col(Row.notified_version) < col(Row.version))
        return self._all(statement)

    @translating
    def next_due(self, after: datetime) -> datetime | None:
        statement = select(func.min(Row.next_poll_at)).where(
            col(Row.status).in_(statuses_sql(POLLED_STATUSES)), col(Row.next_poll_at) > after)
        return self._session.exec(statement).one()

    @translating
    def last_batch_slot(self) -> datetime | None:
        """The latest start slot given to a batch's hub not started yet (pacing goes on
        after it)."""
        statement = select(func.max(Row.next_poll_at)).where(
            Row.status == RequestStatus.APPROVED.value, col(Row.batch_id).is_not(None))
        return self._session.exec(statement).one()

    @translating
    def mark_members_notified(self, versions: dict[str, int]) -> None:
        for request_id, version in versions.items():
            self.mark_notified(request_id, version)

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    def _first(self, statement: Any) -> FailoverRequest | None:
        row = self._session.exec(statement.execution_options(populate_existing=True)).first()
        return to_request(row) if row is not None else None

    def _all(self, statement: Any) -> list[FailoverRequest]:
        rows = self._session.exec(statement.execution_options(populate_existing=True))
        return [to_request(row) for row in rows]

    def _update_returning(self, statement: Any) -> FailoverRequest | None:
        row = self._session.scalars(
            statement.returning(Row),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).one_or_none()
        return to_request(row) if row is not None else None

