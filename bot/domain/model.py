"""The things failover-bot talks about: hubs, operations, requests and audit events."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.domain.regions import display_name, same_region


class OperationKind(StrEnum):
    FAILOVER = "failover"
    FAILBACK = "failback"

    @property
    def other(self) -> OperationKind:
        return OperationKind.FAILBACK if self is OperationKind.FAILOVER else OperationKind.FAILOVER


class RequestStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        return not self.is_open


# An open request holds the hub: no second request may be opened beside it.
OPEN_STATUSES = frozenset(
    {RequestStatus.AWAITING_APPROVAL, RequestStatus.APPROVED, RequestStatus.RUNNING}
)
# What Azure counts against the daily limit: successful operations, and in-flight ones
# because they will most likely succeed.
QUOTA_STATUSES = frozenset(
    {RequestStatus.APPROVED, RequestStatus.RUNNING, RequestStatus.SUCCEEDED}
)


@dataclass(frozen=True)
class HubRef:
    """Where a hub lives in Azure."""

    name: str
    subscription_id: str
    resource_group: str


def decide_kind(home_region: str, active_region: str) -> OperationKind:
    """A hub active outside its home region can only fail back; otherwise it fails over."""
    if same_region(home_region, active_region):
        return OperationKind.FAILOVER
    return OperationKind.FAILBACK


@dataclass(frozen=True)
class HubState:
    """A hub as Azure reports it right now."""

    ref: HubRef
    home_region: str
    active_region: str
    target_region: str
    state: str
    provisioning_state: str
    host_name: str = ""
    event_hub_endpoint: str | None = None
    device_count: int | None = None

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def next_kind(self) -> OperationKind:
        return decide_kind(self.home_region, self.active_region)

    @property
    def is_ready(self) -> bool:
        """Azure accepts a failover only on an Active hub whose last change succeeded."""
        return self.state.lower() == "active" and self.provisioning_state.lower() == "succeeded"

    @property
    def active_display(self) -> str:
        return display_name(self.active_region)

    @property
    def target_display(self) -> str:
        return display_name(self.target_region)


def new_request_id() -> str:
    """Short enough to type in ``/iothub cancel <id>``, random enough not to collide."""
    return "fr-" + secrets.token_hex(4)


@dataclass(frozen=True)
class FailoverRequest:
    """One failover or failback, from the request to its end."""

    id: str
    hub: HubRef
    kind: OperationKind
    status: RequestStatus
    requested_by: str
    reason: str
    channel_id: str
    created_at: datetime
    expires_at: datetime
    region_before: str
    region_target: str
    device_count: int | None = None
    approved_by: str | None = None
    decided_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    region_after: str | None = None
    operation_handle: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    message_ts: str | None = None
    status_message_ts: str | None = None
    next_poll_at: datetime | None = None  # when the poller should look next
    version: int = 1

    def is_expired(self, now: datetime) -> bool:
        return self.status is RequestStatus.AWAITING_APPROVAL and now >= self.expires_at

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

    def evolve(self, **changes: Any) -> FailoverRequest:
        return replace(self, **changes)


class AuditAction(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    STARTED = "started"  # the first POST to Azure (written before it is sent)
    RETRY = "retry"  # a later POST, after Azure definitely did not take an earlier one
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    OBSERVED = "observed"  # an operation done outside the bot, seen in Azure's Activity Log


@dataclass(frozen=True)
class AuditEvent:
    """One line of the append-only audit log."""

    at: datetime
    action: AuditAction
    actor: str
    hub: str | None = None
    request_id: str | None = None
    kind: OperationKind | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
