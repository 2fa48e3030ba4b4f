"""Which milestone replies are due, and the record of those already announced.

The record lives in the audit log (a ``progress`` event whose detail names the milestone),
written only after the reply was sent, so a restarted or another replica's poller neither
repeats a milestone nor skips one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from bot.domain.model import AuditAction, AuditEvent
from bot.domain.request import SYSTEM, FailoverRequest
from bot.notifications import Milestone
from bot.store.base import AuditQuery, UnitOfWork

# "Slow" means a quarter longer than estimated: estimates are rough, a small overrun is normal.
SLOW_FACTOR = 1.25


def due_milestone(elapsed: timedelta, estimate: timedelta,
                  announced: Collection[Milestone]) -> Milestone | None:
    """The next milestone reply a running operation needs, if any (one per observation)."""
    if Milestone.STARTED not in announced:
        return Milestone.STARTED
    if Milestone.SLOW not in announced and elapsed > estimate * SLOW_FACTOR:
        return Milestone.SLOW
    return None


def announced_milestones(uow: UnitOfWork, request_id: str) -> set[Milestone]:
    query = AuditQuery(request_id=request_id, actions=frozenset({AuditAction.PROGRESS}),
                       limit=20)
    known = {m.value for m in Milestone}
    return {Milestone(event.detail["milestone"]) for event in uow.events.search(query)
            if event.detail.get("milestone") in known}


def record_milestone(uow: UnitOfWork, request: FailoverRequest, milestone: Milestone,
                     at: datetime) -> None:
    uow.events.append(AuditEvent(at=at, action=AuditAction.PROGRESS, actor=SYSTEM,
                                 hub=request.hub.name, request_id=request.id,
                                 kind=request.kind, detail={"milestone": milestone.value}))
