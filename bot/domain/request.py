"""The failover request and its life: one transition table, one method per change.

Each change returns the new request (``version`` + 1) and the audit event that records it;
a change its status does not allow raises :class:`TransitionRefused`. Nothing is saved here:
the repository saves the new request only if the stored one still has the old version.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from bot.domain.consumers import HubConsumers
from bot.domain.model import AuditAction, AuditEvent, HubRef, OperationKind

SYSTEM = "failover-bot"  # the actor of what the bot does by itself


class RequestStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # a batch's hub that needed nothing by its turn (already moved)

    @property
    def is_open(self) -> bool:
        """Holds the hub: no second request may be opened beside it."""
        return self in OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        return not self.is_open

    @property
    def is_polled(self) -> bool:
        """The poller's: to start (approved) or to follow in Azure (running)."""
        return self in POLLED_STATUSES

    @property
    def ran(self) -> bool:
        """An end an operation reached in Azure: announced with a completion reply."""
        return self in RAN_ENDS

    @property
    def closed_unrun(self) -> bool:
        """An end reached without an operation: nothing more is said about it."""
        return self in UNRUN_ENDS


_S = RequestStatus
# The status groups, defined here only.
OPEN_STATUSES = frozenset({_S.AWAITING_APPROVAL, _S.APPROVED, _S.RUNNING})
POLLED_STATUSES = frozenset({_S.APPROVED, _S.RUNNING})
RAN_ENDS = frozenset({_S.SUCCEEDED, _S.FAILED})
UNRUN_ENDS = frozenset({_S.REJECTED, _S.EXPIRED, _S.CANCELLED, _S.SKIPPED})
# What Azure counts against the daily limit: successful operations, and in-flight ones
# because they will most likely succeed.
QUOTA_STATUSES = frozenset({_S.APPROVED, _S.RUNNING, _S.SUCCEEDED})


class Transition(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    START = "start"
    POSTPONE = "postpone"  # Azure could not take the start: approved again, tried later
    RECORD_HANDLE = "record_handle"  # Azure's handle of the running operation
    SUCCEED = "succeed"
    FAIL = "fail"
    REFUSE_START = "refuse_start"  # the hub is no longer as approved: failed, nothing sent
    SKIP = "skip"  # a batch's hub already where it should go by its turn: nothing sent
    STOP = "stop"  # "Stop the rest" of a batch: approved, not started, now never will be


# The one transition table: from which statuses each change may be made, and to which.
TRANSITIONS: Mapping[Transition, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Transition.APPROVE: (frozenset({_S.AWAITING_APPROVAL}), _S.APPROVED),
    Transition.REJECT: (frozenset({_S.AWAITING_APPROVAL}), _S.REJECTED),
    Transition.CANCEL: (frozenset({_S.AWAITING_APPROVAL}), _S.CANCELLED),
    Transition.EXPIRE: (frozenset({_S.AWAITING_APPROVAL}), _S.EXPIRED),
    Transition.START: (frozenset({_S.APPROVED}), _S.RUNNING),
    Transition.POSTPONE: (POLLED_STATUSES, _S.APPROVED),
    Transition.RECORD_HANDLE: (frozenset({_S.RUNNING}), _S.RUNNING),
    Transition.SUCCEED: (frozenset({_S.RUNNING}), _S.SUCCEEDED),
    Transition.FAIL: (POLLED_STATUSES, _S.FAILED),
    Transition.REFUSE_START: (frozenset({_S.APPROVED}), _S.FAILED),
    Transition.SKIP: (frozenset({_S.APPROVED}), _S.SKIPPED),
    Transition.STOP: (frozenset({_S.APPROVED}), _S.CANCELLED),
}


class TransitionRefused(Exception):
    """The request's status does not allow this change (somebody else changed it first)."""

    def __init__(self, request_id: str, status: RequestStatus, transition: Transition) -> None:
        super().__init__(f"{request_id}: cannot {transition.value} a request {status.value}")
        self.request_id, self.status, self.transition = request_id, status, transition


def new_request_id() -> str:
    """Short enough to type in ``/iothub cancel <id>``, random enough not to collide."""
    return "fr-" + secrets.token_hex(4)


class Change(NamedTuple):
    """A change of a request: the request as it now is, and the audit event recording it."""

    request: FailoverRequest
    event: AuditEvent | None


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
    batch_id: str | None = None  # the regional batch this hub's request belongs to
    batch_position: int | None = None  # its place in the batch's start order (0 first)
    # The hub's consumers as the approver saw them: approving the request approves their
    # restarts after the move (None: the hub declares none).
    consumers: HubConsumers | None = None
    drill_id: str | None = None  # the drill this request is a leg of
    version: int = 1

    def is_expired(self, now: datetime) -> bool:
        return self.status is RequestStatus.AWAITING_APPROVAL and now >= self.expires_at

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

    def evolve(self, **changes: Any) -> FailoverRequest:
        """A copy with other values (tests and read models); changes of state use the
        transition methods below."""
        return replace(self, **changes)

    def again(self, request_id: str, now: datetime, expires_at: datetime) -> FailoverRequest:
        """A new request for the same hub, operation and batch, awaiting approval (a retry
        of a batch's failed hub)."""
        return FailoverRequest(
            id=request_id, hub=self.hub, kind=self.kind, status=RequestStatus.AWAITING_APPROVAL,
            requested_by=self.requested_by, reason=self.reason, channel_id=self.channel_id,
            created_at=now, expires_at=expires_at, region_before=self.region_before,
            region_target=self.region_target, device_count=self.device_count,
            batch_id=self.batch_id, batch_position=self.batch_position,
            consumers=self.consumers)

    def allows(self, transition: Transition) -> bool:
        return self.status in TRANSITIONS[transition][0]

    # ---- the life of a request ------------------------------------------------------------

    def requested(self) -> AuditEvent:
        """The audit event of the request's creation."""
        return self.audit(self.created_at, AuditAction.REQUESTED, self.requested_by,
                          reason=self.reason)

    def approve(self, now: datetime, approver: str, next_poll_at: datetime) -> Change:
        """``next_poll_at``: should the approver's process die before starting it, the
        poller will."""
        return self._change(Transition.APPROVE, now, AuditAction.APPROVED, approver, {},
                            approved_by=approver, decided_at=now, next_poll_at=next_poll_at)

    def reject(self, now: datetime, actor: str, note: str = "") -> Change:
        return self._change(Transition.REJECT, now, AuditAction.REJECTED, actor,
                            {"note": note}, approved_by=actor, decided_at=now)

    def cancel(self, now: datetime, actor: str) -> Change:
        return self._change(Transition.CANCEL, now, AuditAction.CANCELLED, actor, {},
                            approved_by=actor, decided_at=now)

    def expire(self, now: datetime) -> Change:
        return self._change(Transition.EXPIRE, now, AuditAction.EXPIRED, SYSTEM, {},
                            decided_at=now)

    def start(self, now: datetime, next_poll_at: datetime, *, attempts_before: int = 0,
              following_hub: bool = False) -> Change:
        """The POST is audited before it is sent: ``started`` first, ``retry`` after."""
        action = AuditAction.RETRY if attempts_before else AuditAction.STARTED
        detail = {"region_before": self.region_before, "region_target": self.region_target,
                  "following_hub": following_hub or None,
                  "attempt": attempts_before + 1 if attempts_before else None}
        return self._change(Transition.START, now, action, SYSTEM, detail, started_at=now,
                            next_poll_at=next_poll_at)

    def postpone(self, now: datetime, retry_at: datetime, *, code: str | None, error: str,
                 failures: int) -> Change:
        detail = {"start_postponed": code, "error": error, "failures": failures,
                  "retry_at": retry_at.isoformat()}
        return self._change(Transition.POSTPONE, now, AuditAction.PROGRESS, SYSTEM, detail,
                            started_at=None, next_poll_at=retry_at)

    def record_handle(self, handle: str) -> Change:
        """Azure's handle of the running operation (not audited: it is bookkeeping)."""
        self._check(Transition.RECORD_HANDLE)
        return Change(self._next(Transition.RECORD_HANDLE, operation_handle=handle), None)

    def succeed(self, now: datetime, region_after: str,
                event_hub_endpoint: str | None = None) -> Change:
        self._check(Transition.SUCCEED)
        done = self._next(Transition.SUCCEED, completed_at=now, region_after=region_after)
        duration = done.duration
        return Change(done, done.audit(
            now, AuditAction.SUCCEEDED, SYSTEM, region_after=region_after,
            duration_s=int(duration.total_seconds()) if duration else None,
            event_hub_endpoint=event_hub_endpoint))

    def fail(self, now: datetime, code: str, message: str) -> Change:
        return self._change(Transition.FAIL, now, AuditAction.FAILED, SYSTEM,
                            {"error_code": code, "error": message}, completed_at=now,
                            error_code=code, error_message=message)

    def refuse_start(self, now: datetime, code: str, message: str) -> Change:
        return self._change(Transition.REFUSE_START, now, AuditAction.FAILED, SYSTEM,
                            {"error": message}, completed_at=now, error_code=code,
                            error_message=message)

    def skip(self, now: datetime, why: str, region_now: str) -> Change:
        """Nothing to do by the time its turn came (the hub had moved meanwhile)."""
        return self._change(Transition.SKIP, now, AuditAction.SKIPPED, SYSTEM,
                            {"note": why, "region_after": region_now}, completed_at=now,
                            region_after=region_now, error_message=why)

    def stop(self, now: datetime, actor: str) -> Change:
        """Cancelled before its start by "Stop the rest" of its batch."""
        return self._change(Transition.STOP, now, AuditAction.CANCELLED, actor,
                            {"note": "stopped with the rest of the batch"}, completed_at=now)

    # ---- helpers --------------------------------------------------------------------------

    def audit(self, at: datetime, action: AuditAction, actor: str,
              **detail: object) -> AuditEvent:
        """An audit event about this request (empty details left out)."""
        return AuditEvent(at=at, action=action, actor=actor, hub=self.hub.name,
                          request_id=self.id, kind=self.kind, batch_id=self.batch_id,
                          detail={k: v for k, v in detail.items() if v not in (None, "")})

    def _check(self, transition: Transition) -> None:
        if not self.allows(transition):
            raise TransitionRefused(self.id, self.status, transition)

    def _next(self, transition: Transition, **changes: Any) -> FailoverRequest:
        return replace(self, status=TRANSITIONS[transition][1], version=self.version + 1,
                       **changes)

    def _change(self, transition: Transition, now: datetime, action: AuditAction, actor: str,
                detail: Mapping[str, object], **changes: Any) -> Change:
        self._check(transition)
        changed = self._next(transition, **changes)
        return Change(changed, changed.audit(now, action, actor, **detail))
