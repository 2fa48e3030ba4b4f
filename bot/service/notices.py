"""What people have been told: where a request was announced, up to which version, and
which milestone replies went out. The one writer of that bookkeeping (the notifier and the
poller come here); none of it changes a request's version.

Milestones are recorded in the audit log (a ``progress`` event whose detail names the
milestone), written only after the reply was sent, so a restarted or another replica's poller
neither repeats a milestone nor skips one.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.model import AuditAction
from bot.domain.request import SYSTEM, FailoverRequest
from bot.notifications import Milestone
from bot.service.dependencies import ServiceDeps
from bot.store.base import AuditQuery, UnitOfWork


class Notices:
    """The notifier's ledger (``bot.slack.notifier.MessageLedger``)."""

    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps

    def attach_message(self, request_id: str, *, message_ts: str | None = None,
                       status_message_ts: str | None = None) -> None:
        """Remember where the request was announced, so later updates edit that message."""
        with self.deps.uow() as uow:
            uow.announcements.attach_message(request_id, message_ts=message_ts,
                                             status_message_ts=status_message_ts)
            uow.commit()

    def mark_notified(self, request_id: str, version: int) -> None:
        """People have seen the request as of ``version`` (the store never goes backwards)."""
        with self.deps.uow() as uow:
            uow.announcements.mark_notified(request_id, version)
            uow.commit()


def record_notified(uow: UnitOfWork, request: FailoverRequest) -> None:
    """The end or change of ``request`` was announced (in the poller's unit of work)."""
    uow.announcements.mark_notified(request.id, request.version)


def announced_milestones(uow: UnitOfWork, request_id: str) -> set[Milestone]:
    query = AuditQuery(request_id=request_id, actions=frozenset({AuditAction.PROGRESS}),
                       limit=20)
    known = {m.value for m in Milestone}
    return {Milestone(event.detail["milestone"]) for event in uow.events.search(query)
            if event.detail.get("milestone") in known}


def record_milestone(uow: UnitOfWork, request: FailoverRequest, milestone: Milestone,
                     at: datetime) -> None:
    uow.events.append(request.audit(at, AuditAction.PROGRESS, SYSTEM,
                                    milestone=milestone.value))
