"""The regional batches on SQLModel: compare-and-set saves, and the board's bookkeeping."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bot.domain.batch import Batch, BatchStatus
from bot.domain.model import OperationKind
from bot.store.engine import translating
from bot.store.rows import plain
from bot.store.tables import FailoverBatchRow

Row = FailoverBatchRow
_FIELDS = [f.name for f in fields(Batch)]
_SAVED = ("status", "version", "approved_by", "decided_at", "stopped_by", "stopped_at")


def _to_batch(row: FailoverBatchRow) -> Batch:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["kind"] = OperationKind(row.kind)
    values["status"] = BatchStatus(row.status)
    return Batch(**values)


class SqlBatchRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    @translating
    def add(self, batch: Batch) -> None:
        self._session.add(Row(**{name: plain(getattr(batch, name)) for name in _FIELDS}))
        self._session.flush()

    @translating
    def get(self, batch_id: str) -> Batch | None:
        row = self._session.get(Row, batch_id, populate_existing=True)
        return _to_batch(row) if row else None

    @translating
    def save(self, batch: Batch, expected_version: int) -> bool:
        values = {name: plain(getattr(batch, name)) for name in _SAVED}
        statement = update(Row).where(col(Row.id) == batch.id,
                                      col(Row.version) == expected_version).values(values)
        return self._update(statement)

    @translating
    def attach_message(self, batch_id: str, message_ts: str) -> None:
        self._update(update(Row).where(col(Row.id) == batch_id, col(Row.message_ts).is_(None))
                     .values(message_ts=message_ts))

    @translating
    def recent(self, limit: int = 5) -> list[Batch]:
        statement = select(Row).order_by(col(Row.created_at).desc(), col(Row.id)).limit(limit)
        return [_to_batch(row) for row in self._session.exec(statement)]

    @translating
    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[Batch]:
        statement = select(Row).where(Row.status == BatchStatus.AWAITING_APPROVAL.value,
                                      col(Row.expires_at) <= now).limit(limit)
        return [_to_batch(row) for row in self._session.exec(statement)]

    @translating
    def claim_boards(self, owner: str, now: datetime, until: datetime,
                     limit: int = 20) -> list[Batch]:
        """Lease the boards still to keep (decided and not finished, or never posted) that
        nobody else keeps."""
        free = or_(col(Row.board_owner).is_(None), col(Row.board_owner) == owner,
                   col(Row.board_lease_until) <= now)
        # Decided and not finished, or never posted (its listener failed or died).
        open_ = or_(col(Row.status) != BatchStatus.AWAITING_APPROVAL.value,
                    col(Row.message_ts).is_(None)) & col(Row.finished_at).is_(None)
        ids = list(self._session.exec(select(Row.id).where(open_, free)
                                      .order_by(col(Row.created_at)).limit(limit)))
        claimed = []
        for batch_id in ids:
            statement = (update(Row).where(col(Row.id) == batch_id, open_, free)
                         .values(board_owner=owner, board_lease_until=until))
            if self._update(statement):
                batch = self.get(batch_id)
                if batch is not None:
                    claimed.append(batch)
        return claimed

    @translating
    def board_digest(self, batch_id: str) -> tuple[str | None, datetime | None]:
        row = self._session.get(Row, batch_id, populate_existing=True)
        return (row.board_digest, row.board_edited_at) if row else (None, None)

    @translating
    def board_shown(self, batch_id: str, owner: str, digest: str, at: datetime,
                    finished: bool) -> None:
        values: dict[str, Any] = {"board_digest": digest, "board_edited_at": at}
        if finished:
            values.update(finished_at=at, board_owner=None, board_lease_until=None)
        self._update(update(Row).where(col(Row.id) == batch_id, or_(
            col(Row.board_owner) == owner, col(Row.board_owner).is_(None))).values(values))

    @translating
    def reopen_board(self, batch_id: str) -> None:
        """More to show (a retry): the board is kept again."""
        self._update(update(Row).where(col(Row.id) == batch_id).values(finished_at=None))

    def _update(self, statement: Any) -> bool:
        result = self._session.execute(statement, execution_options={
            "synchronize_session": False})
        return bool(getattr(result, "rowcount", 0))
