"""Asking for a drill (issue #23): which hubs may be drilled and when, the dialog's preview,
and the submission — the failover leg and the drill written in one transaction.

A drill is refused before any dialog for a hub not marked for drills (``failover-bot-drill``
= ``allowed``, or ``BOT_DRILL_HUBS``), a hub not at home, an incident on it (a request open
or running, a regional batch over its region, another drill), and when it would use the day's
last failover or find no failback left: then it says when it can run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.batch import BatchStatus
from bot.domain.drill import HOW_TO_ALLOW, Drill, DrillAsk, marked_for_drills, new_drill_id
from bot.domain.drill_schedule import DrillSchedule
from bot.domain.model import AuditAction, AuditEvent, HubState, OperationKind
from bot.domain.policy import Actor
from bot.domain.regions import same_region
from bot.domain.request import FailoverRequest
from bot.domain.rules import Refusal, RefusalReason
from bot.hub_history import HubHistory
from bot.service.asking import Asking, FieldErrors, Preview, SubmitFailover, Submitted
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.store.base import UnitOfWork

FAILOVER, FAILBACK = OperationKind.FAILOVER, OperationKind.FAILBACK


@dataclass(frozen=True)
class DrillPreview:
    """What the drill's dialog shows: the failover's preview and the plan after it."""

    failover: Preview
    cooldown: timedelta
    failovers_left_after: int
    failbacks_left_after: int


class DrillAsking:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals,
                 asking: Asking) -> None:
        self.deps, self.hubs, self.refusals, self.asking = deps, hubs, refusals, asking
        asking.drills = self  # the submission's own transaction checks and writes the drill

    def marked(self, hub: HubState) -> bool:
        return hub.drill_tagged or marked_for_drills(hub.name, None, self.deps.drill_hubs)

    def refusal_before_dialog(self, actor: Actor, hub_name: str) -> Refusal | None:
        """The hub is not marked for drills: refused before any dialog, saying how to mark
        it (BOT_DRILL_HUBS is read without Azure; the tag from the hub list, cached)."""
        if marked_for_drills(hub_name, None, self.deps.drill_hubs):
            return None
        hub = self.hubs.live_hub(hub_name, with_device_count=False)
        if isinstance(hub, Refusal):
            return self.refusals.refuse(hub, actor.user_id, hub_name, FAILOVER)
        if self.marked(hub):
            return None
        refusal = Refusal(RefusalReason.NOT_MARKED_FOR_DRILLS,
                          f"`{hub.name}` is not marked for drills. {HOW_TO_ALLOW}")
        return self.refusals.refuse(refusal, actor.user_id, hub.name, FAILOVER)

    def preview(self, actor: Actor, channel_id: str, hub_name: str) -> DrillPreview | Refusal:
        failover = self.asking.preview(actor, channel_id, hub_name, FAILOVER)
        if isinstance(failover, Refusal):
            return failover
        hub = failover.hub
        read = self.hubs.read_history(hub)
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            refusal = self.refusal(uow, hub, history)
            failbacks_left = self.hubs.quota_left(uow, hub.name, FAILBACK, history)
        if refusal:
            return self.refusals.refuse(refusal, actor.user_id, hub.name, FAILOVER)
        return DrillPreview(failover, self.deps.limits.failback_cooldown,
                            failover.quota_left - 1, failbacks_left - 1)

    def submit(self, cmd: SubmitFailover, ask: DrillAsk | None = None
               ) -> Submitted | FieldErrors | Refusal:
        return self.asking.submit(replace(cmd, kind=FAILOVER, drill=ask or DrillAsk()))

    def schedule(self, planned: DrillSchedule) -> None:
        """Keep a schedule (its hub was checked as marked); audited as who planned what."""
        with self.deps.uow() as uow:
            uow.drills.add_schedule(planned)
            uow.events.append(AuditEvent(
                at=planned.created_at, action=AuditAction.DRILL, actor=planned.created_by,
                hub=planned.hub, detail={"note": "scheduled", "schedule": planned.id,
                                         "next_at": planned.next_at.isoformat()
                                         if planned.next_at else None,
                                         "every_s": planned.every.total_seconds()
                                         if planned.every else None}))
            uow.commit()

    def cancel_schedules(self, hub: str) -> int:
        with self.deps.uow() as uow:
            ended = uow.drills.cancel_schedules(hub)
            uow.commit()
        return ended

    def refusal(self, uow: UnitOfWork, hub: HubState, history: HubHistory) -> Refusal | None:
        """Everything a drill needs beyond a failover's own checks."""
        if not self.marked(hub):
            return Refusal(RefusalReason.NOT_MARKED_FOR_DRILLS,
                           f"`{hub.name}` is not marked for drills. {HOW_TO_ALLOW}")
        if hub.next_kind is not FAILOVER:
            return Refusal(RefusalReason.DRILL_BUSY,
                           f"`{hub.name}` is active in {hub.active_display}, away from home: "
                           "a drill starts at home. Fail it back first.")
        busy = self._incident(uow, hub)
        if busy:
            return Refusal(RefusalReason.DRILL_BUSY, busy)
        for kind in (FAILOVER, FAILBACK):
            short = self.hubs.histories.quota_refusal(uow, hub.name, kind, history,
                                                      spare=1 if kind is FAILOVER else 0)
            if short is not None and short.reason is RefusalReason.QUOTA_EXHAUSTED:
                return self._quota_words(kind, short.allowed_at)
        return None

    def add(self, uow: UnitOfWork, request: FailoverRequest, ask: DrillAsk) -> Drill:
        """In the submission's transaction: the drill its failover leg belongs to."""
        drill = Drill(request.drill_id or new_drill_id(), request.hub.name, request.channel_id,
                      request.requested_by, request.reason, request.created_at, request.id,
                      scheduled_by=ask.scheduled_by, schedule_id=ask.schedule_id,
                      next_step_at=request.created_at)
        uow.drills.add(drill)
        return drill

    def _incident(self, uow: UnitOfWork, hub: HubState) -> str | None:
        drill = uow.drills.open_for_hub(hub.name)
        if drill is not None:
            return (f"A drill of `{hub.name}` is under way (`{drill.id}`, asked by "
                    f"<@{drill.requested_by}>): one at a time.")
        for batch in uow.batches.recent(limit=20):
            running = batch.status in (BatchStatus.AWAITING_APPROVAL, BatchStatus.APPROVED)
            if running and batch.finished_at is None and same_region(batch.region,
                                                                     hub.active_region):
                return (f"A regional {batch.kind.value} of {hub.active_display} is under way "
                        f"(`{batch.id}`): no drill while an incident covers the hub's region.")
        return None

    def _quota_words(self, kind: OperationKind, allowed_at: datetime | None) -> Refusal:
        if kind is FAILOVER:
            words = ("A drill never uses the day's last failover: it needs two left today "
                     "(its own, and one for a real incident).")
        else:
            words = "A drill needs a failback left today to bring the hub home."
        when = " It can run once one frees up." if allowed_at else ""
        return Refusal(RefusalReason.DRILL_QUOTA, words + when, allowed_at)
