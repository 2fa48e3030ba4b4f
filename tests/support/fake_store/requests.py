"""The fake store's three views of a request row: the aggregate and the use cases' queries,
the poller's leases, and what people were told. Each mirrors its SQL twin in ``bot.store``
(``requests.py``, ``leases.py``, ``announcements.py``); the contract test
``tests/integration/store/test_store_contract.py`` holds both to the same behaviour."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta

from bot.domain.model import OperationKind
from bot.domain.request import (
    OPEN_STATUSES,
    POLLED_STATUSES,
    QUOTA_STATUSES,
    RAN_ENDS,
    FailoverRequest,
    RequestStatus,
)
from bot.store.base import HubLocked
from bot.store.rows import SAVED_FIELDS
from tests.support.fake_store.tables import RequestRow, Tables, stored

Rows = Callable[[], Tables]
NEVER = datetime.min.replace(tzinfo=UTC)  # sorts first; only where the value is never None


def _requests(rows: Iterable[RequestRow]) -> list[FailoverRequest]:
    return [row.request for row in rows]


class FakeRequestRepository:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def add(self, request: FailoverRequest) -> None:
        table = self._tables().requests
        if request.id in table:
            raise ValueError(f"duplicate request id {request.id}")  # SQL: a primary key error
        if request.status in OPEN_STATUSES and self.open_for_hub(request.hub.name):
            raise HubLocked(f"{request.hub.name} already has an open request")
        table[request.id] = RequestRow(stored(request))

    def get(self, request_id: str) -> FailoverRequest | None:
        row = self._tables().request(request_id)
        return row.request if row else None

    def open_for_hub(self, hub: str) -> FailoverRequest | None:
        return next((r for r in self._all() if r.hub.name == hub and r.status in OPEN_STATUSES),
                    None)

    def open_requests(self, limit: int = 100) -> list[FailoverRequest]:
        held = [r for r in self._all() if r.status in OPEN_STATUSES]
        return sorted(held, key=lambda r: r.created_at, reverse=True)[:limit]

    def save(self, request: FailoverRequest, expected_version: int) -> bool:
        row = self._tables().request(request.id)
        if row is None or row.request.version != expected_version:
            return False
        self._tables().change_request(request.id, **{
            name: getattr(request, name) for name in SAVED_FIELDS})
        return True

    def quota_starts(self, hub: str, kind: OperationKind, since: datetime) -> list[datetime]:
        return [r.decided_at for r in self._all() if r.hub.name == hub and r.kind is kind
                and r.status in QUOTA_STATUSES and r.decided_at is not None
                and r.decided_at >= since]

    def last_completed(self, hub: str, kind: OperationKind) -> datetime | None:
        done = [r.completed_at for r in self._succeeded(hub)
                if r.kind is kind and r.completed_at is not None]
        return max(done, default=None)

    def recent_durations(self, hub: str, limit: int = 5) -> list[timedelta]:
        done = sorted(self._succeeded(hub), key=lambda r: r.completed_at or NEVER,
                      reverse=True)
        return [r.completed_at - r.started_at for r in done
                if r.started_at is not None and r.completed_at is not None][:limit]

    def recent(self, hub: str, limit: int = 5) -> list[FailoverRequest]:
        mine = [r for r in self._all() if r.hub.name == hub]
        return sorted(mine, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def due_for_expiry(self, now: datetime, limit: int = 100) -> list[FailoverRequest]:
        due = [r for r in self._all()
               if r.status is RequestStatus.AWAITING_APPROVAL and r.expires_at <= now]
        return sorted(due, key=lambda r: r.expires_at)[:limit]

    def count_running(self) -> int:
        return sum(1 for r in self._all() if r.status is RequestStatus.RUNNING)

    def members(self, batch_id: str) -> list[FailoverRequest]:
        mine = [r for r in self._all() if r.batch_id == batch_id]
        return sorted(mine, key=lambda r: (r.batch_position is None, r.batch_position or 0,
                                           r.created_at))

    def last_batch_slot(self) -> datetime | None:
        return max((r.next_poll_at for r in self._all() if r.status is RequestStatus.APPROVED
                    and r.batch_id is not None and r.next_poll_at is not None), default=None)

    def _all(self) -> list[FailoverRequest]:
        return _requests(self._tables().requests.values())

    def _succeeded(self, hub: str) -> list[FailoverRequest]:
        return [r for r in self._all() if r.hub.name == hub
                and r.status is RequestStatus.SUCCEEDED and r.completed_at is not None]


class FakePollLeases:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def claim_due(self, owner: str, now: datetime, lease: timedelta, limit: int, *,
                  skip: Collection[str] = ()) -> list[FailoverRequest]:
        def claimable(row: RequestRow) -> bool:
            return (row.lease_owner is None or row.lease_owner == owner
                    or row.lease_expires_at is None or row.lease_expires_at <= now)

        def due(row: RequestRow) -> bool:
            r = row.request
            return (r.status in POLLED_STATUSES and r.next_poll_at is not None
                    and r.next_poll_at <= now and r.id not in skip and claimable(row))

        def owed(row: RequestRow) -> bool:  # a finished request whose end was never told
            return (row.request.status in RAN_ENDS
                    and row.notified_version < row.request.version
                    and row.request.batch_id is None
                    and (row.lease_expires_at is None or row.lease_expires_at <= now))

        rows = list(self._tables().requests.values())
        polls = sorted((r for r in rows if due(r)), key=lambda r: r.request.next_poll_at or NEVER)
        notices = sorted((r for r in rows if owed(r)), key=lambda r: r.request.id)
        claimed = []
        for row in (polls[:limit] + notices[:limit])[:limit]:
            self._tables().change_request(row.request.id, lease_owner=owner,
                                          lease_expires_at=now + lease)
            claimed.append(row.request)
        return claimed

    def take_lease(self, request_id: str, owner: str, until: datetime) -> None:
        if self._tables().request(request_id):
            self._tables().change_request(request_id, lease_owner=owner, lease_expires_at=until)

    def renew_lease(self, request_id: str, owner: str, until: datetime) -> bool:
        row = self._tables().request(request_id)
        if row is None or row.lease_owner != owner:
            return False
        self._tables().change_request(request_id, lease_expires_at=until)
        return True

    def release_lease(self, request_id: str, owner: str, next_poll_at: datetime) -> None:
        row = self._tables().request(request_id)
        if row is not None and row.lease_owner == owner:
            self._tables().change_request(request_id, lease_owner=None, lease_expires_at=None,
                                          next_poll_at=next_poll_at)

    def live_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        live = sorted((row.request.id, row.lease_owner)
                      for row in self._tables().requests.values()
                      if row.lease_owner is not None and row.lease_expires_at is not None
                      and row.lease_expires_at > now)
        return live[:limit]

    def schedule_poll(self, request_id: str, next_poll_at: datetime) -> None:
        if self._tables().request(request_id):
            self._tables().change_request(request_id, next_poll_at=next_poll_at)

    def next_due(self, after: datetime) -> datetime | None:
        return min((r.next_poll_at for r in _requests(self._tables().requests.values())
                    if r.status in POLLED_STATUSES and r.next_poll_at is not None
                    and r.next_poll_at > after), default=None)


class FakeAnnouncements:
    def __init__(self, tables: Rows) -> None:
        self._tables = tables

    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        values = {name: ts for name, ts in (("message_ts", message_ts),
                                            ("status_message_ts", status_message_ts)) if ts}
        if values and self._tables().request(request_id):
            self._tables().change_request(request_id, **values)

    def mark_notified(self, request_id: str, version: int) -> None:
        row = self._tables().request(request_id)
        if row is not None and row.notified_version < version:  # never backwards
            self._tables().change_request(request_id, notified_version=version)

    def told_latest(self, request_id: str) -> bool:
        row = self._tables().request(request_id)
        return row is not None and row.notified_version >= row.request.version

    def mark_members_notified(self, versions: dict[str, int]) -> None:
        for request_id, version in versions.items():
            self.mark_notified(request_id, version)

    def unnotified(self, limit: int = 100) -> list[FailoverRequest]:
        rows = sorted((row for row in self._tables().requests.values()
                       if row.notified_version < row.request.version
                       and row.request.batch_id is None), key=lambda row: row.request.id)
        return _requests(rows[:limit])

    def unnotified_members(self, batch_id: str) -> list[FailoverRequest]:
        return _requests(row for row in self._tables().requests.values()
                         if row.request.batch_id == batch_id
                         and row.notified_version < row.request.version)
