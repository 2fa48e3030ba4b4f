"""The fake store's tables: frozen rows in dicts, copied whole at the start of a unit of work.

Rows are immutable (a change replaces the row), so a copy of the dicts is a snapshot: what a
unit of work changes stays its own until it commits. Datetimes are kept as the SQL store
keeps them (``bot.store.columns.UtcDateTime``): aware, in UTC; a naive one is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.domain.batch import Batch
from bot.domain.model import AuditEvent
from bot.domain.request import FailoverRequest
from tests.support.fake_store.drills import DrillTables

T = TypeVar("T")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps UTC only")
    return value.astimezone(UTC)


def stored(value: T) -> T:
    """``value`` (a request, batch or event) as the database would give it back: datetimes
    in UTC; an event's detail through JSON (``default=str``), as ``bot.store.events`` does."""
    changes: dict[str, Any] = {}
    for name in (f.name for f in fields(value)):  # type: ignore[arg-type]
        if isinstance(current := getattr(value, name), datetime):
            changes[name] = utc(current)
    if isinstance(value, AuditEvent):
        changes["detail"] = json.loads(json.dumps(value.detail, default=str, sort_keys=True))
    return replace(value, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class RequestRow:
    """A request and the bookkeeping its row carries beside it."""

    request: FailoverRequest
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    notified_version: int = 0


@dataclass(frozen=True)
class BatchRow:
    batch: Batch
    board_owner: str | None = None
    board_lease_until: datetime | None = None
    board_digest: str | None = None
    board_edited_at: datetime | None = None


@dataclass(frozen=True)
class LeasedRow:
    """A verification or a consumer action, and who holds it until when."""

    value: Any
    owner: str | None = None
    until: datetime | None = None


@dataclass
class Tables:
    requests: dict[str, RequestRow] = field(default_factory=dict)
    batches: dict[str, BatchRow] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)
    last_turn: datetime | None = None
    verifications: dict[str, LeasedRow] = field(default_factory=dict)
    consumer_actions: dict[tuple[str, str], LeasedRow] = field(default_factory=dict)
    drills: DrillTables = field(default_factory=DrillTables)

    def copy(self) -> Tables:
        return Tables(dict(self.requests), dict(self.batches), list(self.events),
                      self.last_turn, dict(self.verifications), dict(self.consumer_actions),
                      self.drills.copy())

    def request(self, request_id: str) -> RequestRow | None:
        return self.requests.get(request_id)

    def change_request(self, request_id: str, **changes: Any) -> None:
        """Replace a request's row with these columns changed (the request's own fields, or
        the row's bookkeeping beside it)."""
        values: dict[str, Any] = {k: utc(v) if isinstance(v, datetime) else v
                                  for k, v in changes.items()}
        own: dict[str, Any] = {k: values.pop(k) for k in list(values) if k in _REQUEST_FIELDS}
        row = self.requests[request_id]
        self.requests[request_id] = replace(row, request=replace(row.request, **own), **values)


_REQUEST_FIELDS = frozenset(f.name for f in fields(FailoverRequest))
