"""The fake store's verifications and consumer actions, mirroring ``bot.store``'s
``verifications.py`` and ``consumer_actions.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.domain.consumer_action import ActionStatus, ConsumerAction
from bot.domain.verification_state import Verification, VerificationSummary, VerifyStatus
from tests.support.fake_store.tables import LeasedRow, Tables, utc

Rows = Callable[[], Tables]
_LOOKED = (VerifyStatus.WAITING, VerifyStatus.WATCHING)


def _free(row: LeasedRow, owner: str, now: datetime) -> bool:
    return row.owner is None or row.owner == owner or row.until is None or row.until <= now


class FakeVerifications:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def add(self, verification: Verification) -> bool:
        rows = self._tables().verifications
        if verification.request_id in rows:
            return False
        rows[verification.request_id] = LeasedRow(verification)
        return True

    def get(self, request_id: str) -> Verification | None:
        row = self._tables().verifications.get(request_id)
        return row.value if row else None

    def save(self, verification: Verification, expected_version: int) -> bool:
        rows = self._tables().verifications
        row = rows.get(verification.request_id)
        if row is None or row.value.version != expected_version:
            return False
        rows[verification.request_id] = replace(row, value=verification)
        return True

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Verification]:
        rows = self._tables().verifications
        def wanted(v: Verification) -> bool:
            due = (v.status in _LOOKED and v.next_look_at is not None
                   and utc(v.next_look_at) <= now)  # type: ignore[operator]
            return due or (v.status.verdict and not v.announced)
        found = sorted((r for r in rows.values() if wanted(r.value) and _free(r, owner, now)),
                       key=lambda r: r.value.next_look_at or now)[:limit]
        for row in found:
            rows[row.value.request_id] = replace(row, owner=owner, until=now + lease)
        return [row.value for row in found]

    def release(self, request_id: str, owner: str) -> None:
        rows = self._tables().verifications
        row = rows.get(request_id)
        if row is not None and row.owner == owner:
            rows[request_id] = replace(row, owner=None, until=None)

    def next_due(self, now: datetime) -> datetime | None:
        due = [r.value.next_look_at for r in self._tables().verifications.values()
               if r.value.status in _LOOKED and r.value.next_look_at is not None]
        return min(due, default=None)

    def latest_for_hub(self, hub: str) -> Verification | None:
        found = [r.value for r in self._tables().verifications.values()
                 if r.value.hub.name == hub and r.value.status is not VerifyStatus.SKIPPED]
        return max(found, key=lambda v: v.posted_at, default=None)

    def summaries(self, request_ids: Sequence[str]) -> dict[str, VerificationSummary]:
        rows = self._tables().verifications
        return {i: VerificationSummary(i, rows[i].value.status, rows[i].value.figures)
                for i in request_ids if i in rows}


def _key(action: ConsumerAction) -> tuple[str, str]:
    return action.request_id, action.consumer.resource_id.lower()


class FakeConsumerActions:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def plan(self, actions: Sequence[ConsumerAction], now: datetime) -> None:
        rows = self._tables().consumer_actions
        for action in actions:
            rows.setdefault(_key(action), LeasedRow(action, until=now))

    def take_pending(self, owner: str, now: datetime, lease: timedelta,
                     limit: int) -> list[ConsumerAction]:
        rows = self._tables().consumer_actions
        taken = []
        for key, row in sorted(rows.items(), key=lambda kv: kv[0]):
            if row.value.status is ActionStatus.PENDING and len(taken) < limit:
                acting = replace(row.value, status=ActionStatus.ACTING)
                rows[key] = LeasedRow(acting, owner, now + lease)
                taken.append(acting)
        return taken

    def lapsed(self, now: datetime, limit: int) -> list[ConsumerAction]:
        return [r.value for r in self._tables().consumer_actions.values()
                if r.value.status is ActionStatus.ACTING and r.until is not None
                and r.until <= now][:limit]

    def finish(self, action: ConsumerAction, *, owner: str | None) -> bool:
        rows = self._tables().consumer_actions
        row = rows.get(_key(action))
        if row is None or row.value.status is not ActionStatus.ACTING:
            return False
        mine = (row.owner == owner if owner is not None
                else row.until is not None and row.until <= (action.finished_at or row.until))
        if not mine:
            return False
        rows[_key(action)] = LeasedRow(action, row.owner, None)
        return True

    def untold(self, limit: int) -> list[ConsumerAction]:
        return [r.value for r in self._tables().consumer_actions.values()
                if r.value.status in (ActionStatus.DONE, ActionStatus.INTERRUPTED)
                and not r.value.announced][:limit]

    def mark_told(self, action: ConsumerAction) -> None:
        rows = self._tables().consumer_actions
        row = rows.get(_key(action))
        if row is not None:
            rows[_key(action)] = replace(row, value=replace(row.value, announced=True))

    def for_request(self, request_id: str) -> list[ConsumerAction]:
        return [r.value for k, r in sorted(self._tables().consumer_actions.items())
                if k[0] == request_id]
