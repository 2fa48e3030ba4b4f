"""Who may ask for a failover, who may approve it, and where (configuration-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, RefusalReason


class Requested(Protocol):
    """What approval rules look at: who asked (a request, or a regional batch)."""

    @property
    def requested_by(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    """A person acting through chat or the CLI; ``groups`` are their user-group ids."""

    user_id: str
    groups: frozenset[str] = frozenset()

    def matches(self, allowed: frozenset[str]) -> bool:
        return self.user_id in allowed or bool(self.groups & allowed)


@dataclass(frozen=True)
class AccessPolicy:
    """Empty ``requesters``/``approvers``/``channels`` mean anyone/anyone else/anywhere."""

    requesters: frozenset[str] = frozenset()
    approvers: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    require_approval: bool = True
    group_ids: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # Slack user-group ids start with S; the edge resolves membership only for these.
        ids = self.requesters | self.approvers
        object.__setattr__(self, "group_ids", frozenset(i for i in ids if i.startswith("S")))

    def check_channel(self, channel_id: str) -> Refusal | None:
        if not self.channels or channel_id in self.channels:
            return None
        allowed = ", ".join(f"<#{c}>" for c in sorted(self.channels))
        return Refusal(
            RefusalReason.CHANNEL_NOT_ALLOWED,
            f"Failovers are run from {allowed} only.",
        )

    def check_requester(self, actor: Actor, channel_id: str) -> Refusal | None:
        refusal = self.check_channel(channel_id)
        if refusal:
            return refusal
        if self.requesters and not actor.matches(self.requesters):
            return Refusal(
                RefusalReason.NOT_REQUESTER,
                "You are not on the list of people who may request a failover "
                "(BOT_REQUESTERS). Ask an on-call engineer.",
            )
        return None

    def check_approver(self, actor: Actor, request: Requested) -> Refusal | None:
        if actor.user_id == request.requested_by:
            return Refusal(
                RefusalReason.SELF_APPROVAL,
                "You cannot approve your own request: a second person must approve it.",
            )
        if self.approvers and not actor.matches(self.approvers):
            return Refusal(
                RefusalReason.NOT_APPROVER,
                "You are not an approver for failovers (BOT_APPROVERS).",
            )
        return None

    def check_approvable(self, actor: Actor) -> Refusal | None:
        """A request needs someone else to approve it: refuse one that nobody can approve
        (BOT_APPROVERS names the requester alone) instead of letting it wait to expire.
        User groups are not expanded here, so a group always counts as someone else."""
        if not self.require_approval or not self.approvers:
            return None
        if self.approvers - {actor.user_id}:
            return None
        return Refusal(
            RefusalReason.NO_APPROVER,
            "Nobody can approve this request: BOT_APPROVERS lists only you, and a request "
            "needs a second person. Ask whoever runs the bot to add an approver to "
            "BOT_APPROVERS.",
        )

    def check_canceller(self, actor: Actor, request: Requested) -> Refusal | None:
        """The requester may withdraw their own request; approvers may cancel any."""
        if actor.user_id == request.requested_by:
            return None
        if self.approvers and actor.matches(self.approvers):
            return None
        return Refusal(RefusalReason.NOT_OWNER, "Only the requester or an approver may cancel.")


def check_decidable(request: FailoverRequest, now: datetime) -> Refusal | None:
    """A request can be approved, rejected or cancelled only while it awaits approval."""
    if request.status is RequestStatus.AWAITING_APPROVAL and not request.is_expired(now):
        return None
    if request.status is RequestStatus.AWAITING_APPROVAL or request.status is RequestStatus.EXPIRED:
        return Refusal(RefusalReason.EXPIRED,
                       f"Request `{request.id}` has expired; request the failover again.")
    # A second click is not an error: say neutrally what already happened, and by whom.
    who = f" by <@{request.approved_by}>" if request.approved_by else ""
    at = f" at {request.decided_at.astimezone(UTC):%H:%M} UTC" if request.decided_at else ""
    verb = _DECIDED.get(request.status, "approved")
    now_state = _NOW.get(request.status)
    tail = f" ({now_state})" if now_state else ""
    return Refusal(RefusalReason.ALREADY_DECIDED,
                   f"Request `{request.id}` is already {verb}{who}{at} — nothing to do{tail}.")


_DECIDED = {RequestStatus.REJECTED: "rejected", RequestStatus.CANCELLED: "cancelled"}
_NOW = {RequestStatus.APPROVED: "it is starting", RequestStatus.RUNNING: "it is running",
        RequestStatus.SUCCEEDED: "it has succeeded", RequestStatus.FAILED: "it has failed"}
