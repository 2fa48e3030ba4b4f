"""Requests to rows and back (the SQLModel mapping shared by the store's repositories), and
the reads and conditional updates the three views of a request row share (requests, leases,
announcements)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

from sqlmodel import Session

from bot.domain.consumers import plan_from_json, plan_to_json
from bot.domain.model import HubRef, OperationKind
from bot.domain.request import FailoverRequest, RequestStatus
from bot.store.tables import FailoverRequestRow

T = TypeVar("T")

REQUEST_FIELDS = [f.name for f in fields(FailoverRequest) if f.name not in ("hub", "consumers")]
# What a save writes: the request's life. Identity never changes; where it was announced is
# bookkeeping, written by attach_message() whatever the version.
SAVED_FIELDS = ("status", "version", "approved_by", "decided_at", "started_at",
                "completed_at", "region_after", "operation_handle", "error_code",
                "error_message", "next_poll_at", "expires_at")


def plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def request_row(request: FailoverRequest) -> FailoverRequestRow:
    values = {name: plain(getattr(request, name)) for name in REQUEST_FIELDS}
    return FailoverRequestRow(
        hub_name=request.hub.name,
        subscription_id=request.hub.subscription_id,
        resource_group=request.hub.resource_group,
        consumers=plan_to_json(request.consumers) if request.consumers else None,
        **values,
    )


def to_request(row: FailoverRequestRow) -> FailoverRequest:
    values = {name: getattr(row, name) for name in REQUEST_FIELDS}
    values["kind"] = OperationKind(row.kind)
    values["status"] = RequestStatus(row.status)
    hub = HubRef(row.hub_name, row.subscription_id, row.resource_group)
    consumers = plan_from_json(row.consumers) if row.consumers else None
    return FailoverRequest(hub=hub, consumers=consumers, **values)


def statuses_sql(statuses: Collection[RequestStatus]) -> list[str]:
    return sorted(plain(status) for status in statuses)


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def first_request(session: Session, statement: Any) -> FailoverRequest | None:
    row = session.exec(statement.execution_options(populate_existing=True)).first()
    return to_request(row) if row is not None else None


def all_requests(session: Session, statement: Any) -> list[FailoverRequest]:
    rows = session.exec(statement.execution_options(populate_existing=True))
    return [to_request(row) for row in rows]


def updated_row(session: Session, statement: Any, table: type[T]) -> T | None:
    """Run an ``UPDATE`` of at most one row of ``table``; the row as written, or None if no
    row matched (the compare-and-set lost, the lease was not ours)."""
    return session.scalars(
        statement.returning(table),
        execution_options={"synchronize_session": False, "populate_existing": True},
    ).one_or_none()


def update_request(session: Session, statement: Any) -> FailoverRequest | None:
    """Run an ``UPDATE`` of one request row; the request as written, or None."""
    row = updated_row(session, statement, FailoverRequestRow)
    return to_request(row) if row is not None else None
