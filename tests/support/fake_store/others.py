"""The fake store's audit log, regional batches and start pace, mirroring ``bot.store``'s
``events.py``, ``batches.py`` and ``pace.py``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.domain.batch import Batch, BatchStatus
from bot.domain.model import AuditEvent
from bot.domain.pacing import next_turn
from bot.store.base import AuditQuery
from tests.support.fake_store.tables import BatchRow, Tables, stored, utc

Rows = Callable[[], Tables]
_BATCH_SAVED = ("status", "version", "approved_by", "decided_at", "stopped_by", "stopped_at")


class FakeAuditLog:
    def __init__(self, tables: Rows, ids: itertools.count[int]) -> None:
        self._tables = tables
        self._ids = ids  # like a database sequence: not given back on a rollback

    def append(self, event: AuditEvent) -> None:
        self._tables().events.append(replace(stored(event), id=next(self._ids)))

    def search(self, query: AuditQuery) -> list[AuditEvent]:
        def matches(e: AuditEvent) -> bool:
            return ((query.hub is None or e.hub == query.hub)
                    and (query.user is None or e.actor == query.user)
                    and (query.kind is None or e.kind is query.kind)
                    and (not query.actions or e.action in query.actions)
                    and (query.request_id is None or e.request_id == query.request_id)
                    and (query.batch_id is None or e.batch_id == query.batch_id)
                    and (query.since is None or e.at >= query.since)
                    and (query.until is None or e.at < query.until))

        found = sorted(filter(matches, self._tables().events), key=lambda e: (e.at, e.id),
                       reverse=True)
        return found[query.offset:query.offset + query.limit]


class FakeBatchRepository:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def add(self, batch: Batch) -> None:
        if batch.id in self._tables().batches:
            raise ValueError(f"duplicate batch id {batch.id}")
        self._tables().batches[batch.id] = BatchRow(stored(batch))

    def get(self, batch_id: str) -> Batch | None:
        row = self._tables().batches.get(batch_id)
        return row.batch if row else None

    def save(self, batch: Batch, expected_version: int) -> bool:
        row = self._tables().batches.get(batch.id)
        if row is None or row.batch.version != expected_version:
            return False
        self._change(batch.id, **{name: getattr(batch, name) for name in _BATCH_SAVED})
        return True

    def attach_message(self, batch_id: str, message_ts: str) -> None:
        row = self._tables().batches.get(batch_id)
        if row is not None and row.batch.message_ts is None:  # set once
            self._change(batch_id, message_ts=message_ts)

    def recent(self, limit: int = 5) -> list[Batch]:
        # Newest first; among equal times, by id (as the SQL store orders them).
        batches = sorted((row.batch for row in self._tables().batches.values()),
                         key=lambda b: b.id)
        return sorted(batches, key=lambda b: b.created_at, reverse=True)[:limit]

    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[Batch]:
        return [row.batch for row in self._tables().batches.values()
                if row.batch.status is BatchStatus.AWAITING_APPROVAL
                and row.batch.expires_at <= now][:limit]

    def claim_boards(self, owner: str, now: datetime, until: datetime,
                     limit: int = 20) -> list[Batch]:
        def keep(row: BatchRow) -> bool:
            free = (row.board_owner is None or row.board_owner == owner
                    or (row.board_lease_until is not None and row.board_lease_until <= now))
            open_ = ((row.batch.status is not BatchStatus.AWAITING_APPROVAL
                      or row.batch.message_ts is None) and row.batch.finished_at is None)
            return free and open_

        rows = sorted(filter(keep, self._tables().batches.values()),
                      key=lambda row: row.batch.created_at)[:limit]
        for row in rows:
            self._tables().batches[row.batch.id] = replace(row, board_owner=owner,
                                                           board_lease_until=utc(until))
        return [row.batch for row in rows]

    def board_digest(self, batch_id: str) -> tuple[str | None, datetime | None]:
        row = self._tables().batches.get(batch_id)
        return (row.board_digest, row.board_edited_at) if row else (None, None)

    def board_shown(self, batch_id: str, owner: str, digest: str, at: datetime,
                    finished: bool) -> None:
        row = self._tables().batches.get(batch_id)
        if row is None or row.board_owner not in (owner, None):
            return
        row = replace(row, board_digest=digest, board_edited_at=utc(at))
        if finished:
            row = replace(row, batch=replace(row.batch, finished_at=utc(at)), board_owner=None,
                          board_lease_until=None)
        self._tables().batches[batch_id] = row

    def reopen_board(self, batch_id: str) -> None:
        if batch_id in self._tables().batches:
            self._change(batch_id, finished_at=None)

    def _change(self, batch_id: str, **changes: object) -> None:
        row = self._tables().batches[batch_id]
        values: dict[str, Any] = {k: utc(v) if isinstance(v, datetime) else v
                                  for k, v in changes.items()}
        batch = replace(row.batch, **values)
        self._tables().batches[batch_id] = replace(row, batch=batch)


class FakeStartPace:
    """One row; the unit of work's lock is the row lock ``bot.store.pace`` takes."""

    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def last_turn(self) -> datetime | None:
        return self._tables().last_turn

    def claim_next(self, interval: timedelta, now: Callable[[], datetime]) -> datetime:
        at = next_turn(self._tables().last_turn, interval, now())
        self._tables().last_turn = utc(at)
        return at
