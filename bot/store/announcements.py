"""What people were told, on SQLModel: where a request was announced (message ts) and up to
which version (``notified_version``).

Columns of the request's row, written here whatever the request's version, so a notice that
lands after the request moved on is still recorded; a version seen never moves backwards
when two notifiers race. The unnotified reads match the partial index kept for them.
"""

from __future__ import annotations

from sqlalchemy import case, text, update
from sqlmodel import Session, col, select

from bot.domain.request import FailoverRequest
from bot.store.engine import translating
from bot.store.rows import all_requests, update_request
from bot.store.tables import UNNOTIFIED_PREDICATE_SQL, FailoverRequestRow

Row = FailoverRequestRow


class SqlAnnouncements:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        values = {name: ts for name, ts in (("message_ts", message_ts),
                                            ("status_message_ts", status_message_ts)) if ts}
        if values:
            update_request(self._session,
                           update(Row).where(col(Row.id) == request_id).values(values))

    @translating
    def mark_notified(self, request_id: str, version: int) -> None:
        # Never move backwards when two notifiers race.
        notified = case((col(Row.notified_version) < version, version),
                        else_=col(Row.notified_version))
        statement = update(Row).where(col(Row.id) == request_id).values(
            notified_version=notified)
        update_request(self._session, statement)

    @translating
    def told_latest(self, request_id: str) -> bool:
        row = self._session.get(Row, request_id, populate_existing=True)
        return row is not None and row.notified_version >= row.version

    @translating
    def mark_members_notified(self, versions: dict[str, int]) -> None:
        for request_id, version in versions.items():
            self.mark_notified(request_id, version)

    @translating
    def unnotified(self, limit: int = 100) -> list[FailoverRequest]:
        # The literal predicate matches the partial index, which holds only these rows.
        statement = (
            select(Row).where(text(UNNOTIFIED_PREDICATE_SQL), col(Row.batch_id).is_(None))
            .order_by(col(Row.id)).limit(limit)
        )
        return all_requests(self._session, statement)

    @translating
    def unnotified_members(self, batch_id: str) -> list[FailoverRequest]:
        statement = select(Row).where(Row.batch_id == batch_id,
                                      col(Row.notified_version) < col(Row.version))
        return all_requests(self._session, statement)
