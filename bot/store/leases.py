"""The poller's leases and schedule on SQLModel: who follows which request, and when next.

Columns of the request's row (``lease_owner``, ``lease_expires_at``, ``next_poll_at``)
written with conditional updates of their own, so replicas share the work without ever
changing a request's version (that is :meth:`bot.store.requests.SqlRequestRepository.save`'s).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from bot.domain.request import POLLED_STATUSES, RAN_ENDS, FailoverRequest
from bot.store.engine import translating
from bot.store.rows import dialect, statuses_sql, update_request
from bot.store.tables import FailoverRequestRow

Row = FailoverRequestRow


class SqlPollLeases:
    def __init__(self, session: Session) -> None:
        self._session = session

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
        if dialect(self._session) == "postgresql":
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
            request = update_request(self._session, statement)
            if request is not None:
                claimed.append(request)
        return claimed

    @translating
    def take_lease(self, request_id: str, owner: str, until: datetime) -> None:
        statement = (
            update(Row).where(col(Row.id) == request_id)
            .values(lease_owner=owner, lease_expires_at=until)
        )
        update_request(self._session, statement)

    @translating
    def renew_lease(self, request_id: str, owner: str, until: datetime) -> bool:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_expires_at=until)
        )
        return update_request(self._session, statement) is not None

    @translating
    def release_lease(self, request_id: str, owner: str, next_poll_at: datetime) -> None:
        statement = (
            update(Row)
            .where(col(Row.id) == request_id, col(Row.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None, next_poll_at=next_poll_at)
        )
        update_request(self._session, statement)

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
    def schedule_poll(self, request_id: str, next_poll_at: datetime) -> None:
        statement = update(Row).where(col(Row.id) == request_id).values(
            next_poll_at=next_poll_at)
        update_request(self._session, statement)

    @translating
    def next_due(self, after: datetime) -> datetime | None:
        statement = select(func.min(Row.next_poll_at)).where(
            col(Row.status).in_(statuses_sql(POLLED_STATUSES)), col(Row.next_poll_at) > after)
        return self._session.exec(statement).one()
