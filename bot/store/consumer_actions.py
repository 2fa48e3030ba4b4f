"""Consumer actions on SQLModel: pending → acting (leased, before Azure is asked) → done, or
interrupted when the acting process died (bot.domain.consumer_action)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, update
from sqlmodel import Session, col, select

from bot.domain.consumer_action import ActionStatus, ConsumerAction
from bot.domain.consumer_results import RestartOutcome
from bot.domain.consumers import Consumer, ConsumerKind
from bot.domain.model import OperationKind
from bot.store.after_move_tables import ConsumerActionRow
from bot.store.engine import translating
from bot.store.rows import dialect, updated_row

Row = ConsumerActionRow
_ENDED = [ActionStatus.DONE.value, ActionStatus.INTERRUPTED.value]


def consumer_key(consumer: Consumer) -> str:
    return consumer.resource_id.lower()


class SqlConsumerActions:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def plan(self, actions: Sequence[ConsumerAction], now: datetime) -> None:
        for action in actions:
            key = (action.request_id, consumer_key(action.consumer))
            if self._session.get(Row, key) is None:
                self._session.add(Row(**_values(action), created_at=now))
        self._session.flush()

    @translating
    def take_pending(self, owner: str, now: datetime, lease: timedelta,
                     limit: int) -> list[ConsumerAction]:
        query = (select(Row.request_id, Row.consumer_key)
                 .where(col(Row.status) == ActionStatus.PENDING.value)
                 .order_by(col(Row.created_at), col(Row.consumer_key)).limit(limit))
        if dialect(self._session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        taken = []
        for request_id, key in list(self._session.exec(query)):
            row = self._update_one(
                and_(col(Row.request_id) == request_id, col(Row.consumer_key) == key,
                     col(Row.status) == ActionStatus.PENDING.value),
                status=ActionStatus.ACTING.value, owner=owner, lease_expires_at=now + lease)
            if row is not None:
                taken.append(_to_action(row))
        return taken

    @translating
    def lapsed(self, now: datetime, limit: int) -> list[ConsumerAction]:
        query = (select(Row).where(col(Row.status) == ActionStatus.ACTING.value,
                                   col(Row.lease_expires_at) <= now).limit(limit))
        return [_to_action(row) for row in self._session.exec(query)]

    @translating
    def acting(self, limit: int) -> list[tuple[ConsumerAction, str]]:
        query = select(Row).where(col(Row.status) == ActionStatus.ACTING.value).limit(limit)
        return [(_to_action(row), row.owner) for row in self._session.exec(query) if row.owner]

    @translating
    def finish(self, action: ConsumerAction, *, owner: str | None) -> bool:
        mine = (col(Row.owner) == owner if owner is not None
                else col(Row.lease_expires_at) <= (action.finished_at or datetime.max))
        row = self._update_one(
            and_(col(Row.request_id) == action.request_id,
                 col(Row.consumer_key) == consumer_key(action.consumer),
                 col(Row.status) == ActionStatus.ACTING.value, mine),
            status=action.status.value, outcome=action.outcome.value if action.outcome else None,
            sentence=action.sentence, finished_at=action.finished_at, lease_expires_at=None)
        return row is not None

    @translating
    def untold(self, limit: int) -> list[ConsumerAction]:
        query = (select(Row).where(col(Row.announced).is_(False), col(Row.status).in_(_ENDED))
                 .order_by(col(Row.finished_at)).limit(limit))
        return [_to_action(row) for row in self._session.exec(query)]

    @translating
    def mark_told(self, action: ConsumerAction) -> None:
        self._session.execute(update(Row).where(
            col(Row.request_id) == action.request_id,
            col(Row.consumer_key) == consumer_key(action.consumer)).values(announced=True))

    @translating
    def for_request(self, request_id: str) -> list[ConsumerAction]:
        query = (select(Row).where(col(Row.request_id) == request_id)
                 .order_by(col(Row.created_at), col(Row.consumer_key)))
        return [_to_action(row) for row in self._session.exec(query)]

    def _update_one(self, where: Any, **values: Any) -> ConsumerActionRow | None:
        return updated_row(self._session, update(Row).where(where).values(**values), Row)


def _values(action: ConsumerAction) -> dict[str, Any]:
    consumer = action.consumer
    return dict(request_id=action.request_id, consumer_key=consumer_key(consumer),
                hub_name=action.hub, kind=action.kind.value, batch_id=action.batch_id,
                consumer_kind=consumer.kind.value, subscription_id=consumer.subscription_id,
                resource_group=consumer.resource_group, name=consumer.name,
                status=action.status.value,
                outcome=action.outcome.value if action.outcome else None,
                sentence=action.sentence, finished_at=action.finished_at,
                announced=action.announced)


def _to_action(row: ConsumerActionRow) -> ConsumerAction:
    consumer = Consumer(ConsumerKind(row.consumer_kind), row.subscription_id,
                        row.resource_group, row.name)
    return ConsumerAction(
        request_id=row.request_id, hub=row.hub_name, kind=OperationKind(row.kind),
        consumer=consumer, status=ActionStatus(row.status), batch_id=row.batch_id,
        outcome=RestartOutcome(row.outcome) if row.outcome else None, sentence=row.sentence,
        finished_at=row.finished_at, announced=row.announced)


