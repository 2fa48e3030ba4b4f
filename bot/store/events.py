"""The append-only audit log on SQLModel."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from bot.domain.model import AuditAction, AuditEvent, OperationKind
from bot.store.base import AuditQuery
from bot.store.engine import translating
from bot.store.rows import plain
from bot.store.tables import AuditEventRow


class SqlAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def append(self, event: AuditEvent) -> None:
        self._session.add(AuditEventRow(
            at=event.at,
            action=event.action.value,
            actor=event.actor,
            hub=event.hub,
            request_id=event.request_id,
            kind=plain(event.kind),
            batch_id=event.batch_id,
            detail=json.dumps(event.detail, default=str, sort_keys=True),
        ))
        self._session.flush()

    @translating
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
                col(AuditEventRow.action).in_(sorted(plain(a) for a in query.actions)))
        if query.request_id is not None:
            statement = statement.where(AuditEventRow.request_id == query.request_id)
        if query.batch_id is not None:
            statement = statement.where(AuditEventRow.batch_id == query.batch_id)
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
        batch_id=row.batch_id,
    )
