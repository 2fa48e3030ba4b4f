"""A regional batch: every hub of a failed region moved with one confirmation and approval.

The batch is the decision (who asked, why, which region, who approved, who stopped the
rest); each hub in it is an ordinary :class:`~bot.domain.request.FailoverRequest` carrying the
batch id, with every single-hub guarantee (compare-and-set changes, one POST, leases, audit).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from bot.domain.model import AuditAction, AuditEvent, HubState, OperationKind
from bot.domain.regions import display_name, same_region
from bot.domain.request import SYSTEM, FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, RefusalReason, check_reason
from bot.domain.user_text import LIST_CHARS, too_long

BATCH_ID_PREFIX = "fb-"


def new_batch_id() -> str:
    return BATCH_ID_PREFIX + secrets.token_hex(4)


def is_batch_id(value: str) -> bool:
    return value.startswith(BATCH_ID_PREFIX)


# What people may type for a batch id (``audit --batch``): the prefix and hex, at most the
# 32 characters the column holds.
WELL_FORMED_BATCH_ID = re.compile(r"fb-[0-9a-f]{1,29}")
BATCH_ID_USAGE = "a batch id is `fb-` and hex digits, like `fb-1a2b3c4d`"


class BatchStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # its hubs are being moved (each request says how far)
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def decided(self) -> bool:
        return self is not BatchStatus.AWAITING_APPROVAL


class BatchChange(NamedTuple):
    batch: Batch
    event: AuditEvent


_B = BatchStatus
_FROM: Mapping[str, frozenset[BatchStatus]] = {
    "approve": frozenset({_B.AWAITING_APPROVAL}),
    "reject": frozenset({_B.AWAITING_APPROVAL}),
    "expire": frozenset({_B.AWAITING_APPROVAL}),
    "stop": frozenset({_B.APPROVED}),
}


@dataclass(frozen=True)
class Batch:
    """One regional failover (or failback) as people asked for and decided it."""

    id: str
    kind: OperationKind
    region: str  # failover: the failed region; failback: the home region to return to
    status: BatchStatus
    requested_by: str
    reason: str
    channel_id: str
    created_at: datetime
    expires_at: datetime
    hub_count: int = 0
    approved_by: str | None = None
    decided_at: datetime | None = None
    stopped_by: str | None = None
    stopped_at: datetime | None = None
    message_ts: str | None = None  # the approval message, which then becomes the board
    finished_at: datetime | None = None  # every hub ended and the board says so
    version: int = 1

    def is_expired(self, now: datetime) -> bool:
        return self.status is BatchStatus.AWAITING_APPROVAL and now >= self.expires_at

    def requested(self) -> AuditEvent:
        return self.audit(self.created_at, AuditAction.REQUESTED, self.requested_by,
                          reason=self.reason, region=self.region, hubs=self.hub_count)

    def approve(self, now: datetime, approver: str) -> BatchChange:
        return self._change("approve", now, AuditAction.APPROVED, approver,
                            status=_B.APPROVED, approved_by=approver, decided_at=now)

    def reject(self, now: datetime, actor: str, note: str = "") -> BatchChange:
        return self._change("reject", now, AuditAction.REJECTED, actor, note=note,
                            status=_B.REJECTED, approved_by=actor, decided_at=now)

    def expire(self, now: datetime) -> BatchChange:
        return self._change("expire", now, AuditAction.EXPIRED, SYSTEM, status=_B.EXPIRED,
                            decided_at=now)

    def stop(self, now: datetime, actor: str, cancelled: int) -> BatchChange:
        if self.stopped_at is not None:
            raise BatchRefused(self, "stop")
        return self._change("stop", now, AuditAction.STOPPED, actor, cancelled=cancelled,
                            stopped_by=actor, stopped_at=now)

    def audit(self, at: datetime, action: AuditAction, actor: str,
              **detail: object) -> AuditEvent:
        return AuditEvent(at=at, action=action, actor=actor, kind=self.kind, batch_id=self.id,
                          detail={k: v for k, v in detail.items() if v not in (None, "")})

    def _change(self, name: str, now: datetime, action: AuditAction, actor: str,
                note: str = "", cancelled: int | None = None, **changes: Any) -> BatchChange:
        if self.status not in _FROM[name]:
            raise BatchRefused(self, name)
        changed = replace(self, version=self.version + 1, **changes)
        return BatchChange(changed, changed.audit(now, action, actor, note=note,
                                                  cancelled=cancelled))


class BatchRefused(Exception):
    """The batch's status does not allow this change (somebody else decided first)."""

    def __init__(self, batch: Batch, change: str) -> None:
        super().__init__(f"{batch.id}: cannot {change} a batch {batch.status.value}")
        self.batch, self.change = batch, change


def listed_names(text: str) -> list[str]:
    """Hub names typed in one input ("Leave out"), separated by commas, semicolons or space."""
    return [name for name in re.split(r"[\s,;]+", text) if name]


def check_region_confirmation(region: str, typed: str, reason: str,
                              leave_out: str = "") -> dict[str, Refusal]:
    """The regional dialog's own checks: the typed region (display or short name, any
    case), the reason and the length of the typed list, keyed by input."""
    errors: dict[str, Refusal] = {}
    longer = too_long(leave_out, LIST_CHARS, "Leave out")
    if longer:
        errors["exclude"] = Refusal(RefusalReason.INPUT_TOO_LONG, longer)
    if not typed.strip() or not same_region(typed, region):
        shown = f'"{typed.strip()[:50]}"' if typed.strip() else "Nothing"
        errors["confirm_region"] = Refusal(RefusalReason.NAME_MISMATCH,
                                           f"{shown} is not {display_name(region)}.")
    reason_error = check_reason(reason)
    if reason_error:
        errors["reason"] = reason_error
    return errors


def check_batch_decidable(batch: Batch, now: datetime) -> Refusal | None:
    """Like a request's: only while it awaits approval; a second click is told neutrally."""
    if batch.status is BatchStatus.AWAITING_APPROVAL and not batch.is_expired(now):
        return None
    if batch.status in (BatchStatus.AWAITING_APPROVAL, BatchStatus.EXPIRED):
        return Refusal(RefusalReason.EXPIRED,
                       f"Batch `{batch.id}` has expired; request it again.")
    verb = "rejected" if batch.status is BatchStatus.REJECTED else "approved"
    who = f" by <@{batch.approved_by}>" if batch.approved_by else ""
    at = f" at {batch.decided_at:%H:%M} UTC" if batch.decided_at else ""
    return Refusal(RefusalReason.ALREADY_DECIDED,
                   f"Batch `{batch.id}` is already {verb}{who}{at} — nothing to do.")


# ---- which hubs, in which order -----------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One hub in the regional dialog: eligible, or not and why."""

    hub: HubState
    reason: str | None = None  # why it is not eligible; None: it is
    quota_left: int | None = None
    estimate_s: float | None = None
    failback_allowed_at: datetime | None = None  # a failback inside its cool-down starts then
    allowed_at: datetime | None = None  # not eligible until then (the day's quota used)

    @property
    def eligible(self) -> bool:
        return self.reason is None


def start_order(hubs: Iterable[HubState]) -> list[HubState]:
    """Who goes first: the ``failover-priority`` tag (lower first, untagged last), then the
    most devices (they take longest, so they start earliest), then the name."""
    return sorted(hubs, key=lambda h: (h.priority is None, h.priority or 0,
                                       -(h.device_count or 0), h.name))


# ---- the board ------------------------------------------------------------------------------

class BoardTotals(NamedTuple):
    total: int
    done: int  # succeeded
    running: int
    waiting: int  # approved, not started yet (or awaiting the batch's approval)
    failed: int
    skipped: int  # needed nothing by its turn
    cancelled: int  # stopped, rejected or expired

    @property
    def finished(self) -> bool:
        return self.running == 0 and self.waiting == 0

    def summary(self) -> str:
        """"9 of 12 done · 2 running · 1 failed" (zero counts left out)."""
        parts = [f"{self.done} of {self.total} done"]
        for count, word in ((self.running, "running"), (self.waiting, "waiting"),
                            (self.failed, "failed"), (self.skipped, "skipped"),
                            (self.cancelled, "cancelled")):
            if count:
                parts.append(f"{count} {word}")
        return " · ".join(parts)


def totals(members: Iterable[FailoverRequest]) -> BoardTotals:
    counts = dict.fromkeys(("done", "running", "waiting", "failed", "skipped", "cancelled"), 0)
    n = 0
    for request in latest_per_hub(members):
        n += 1
        counts[_BUCKET[request.status]] += 1
    return BoardTotals(total=n, **counts)


_S = RequestStatus
_BUCKET = {_S.SUCCEEDED: "done", _S.RUNNING: "running", _S.APPROVED: "waiting",
           _S.AWAITING_APPROVAL: "waiting", _S.FAILED: "failed", _S.SKIPPED: "skipped",
           _S.CANCELLED: "cancelled", _S.REJECTED: "cancelled", _S.EXPIRED: "cancelled"}


def latest_per_hub(members: Iterable[FailoverRequest]) -> list[FailoverRequest]:
    """A retried hub has several requests in its batch: the board shows the latest, in the
    batch's start order."""
    latest: dict[str, FailoverRequest] = {}
    for request in members:
        seen = latest.get(request.hub.name)
        if seen is None or request.created_at >= seen.created_at:
            latest[request.hub.name] = request
    return sorted(latest.values(), key=lambda r: (r.batch_position or 0, r.hub.name))
