"""A drill's life after it was asked for (issue #23): each step taken by the poller's drill
keeper, one replica at a time (a lease), each saved with a compare-and-set on the drill.

asked → failing over (its failover leg approved) → cooling down (moved: the failback leg
starts at the cool-down's end) → failing back (the failback leg, created approved, once) →
done, with the report once both verdicts are in. A failed leg ends it (failed); rejected,
cancelled or expired before it started, it did not run; "Stop drill" cancels a leg not
started, and otherwise lets the hub come home as soon as Azure allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.clicks import ClickedMessage
from bot.domain.drill import Drill, DrillStatus
from bot.domain.drill_report import compared, leg_figures
from bot.domain.durations import minute_up
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import Actor
from bot.domain.request import FailoverRequest, RequestStatus, new_request_id
from bot.domain.rules import Refusal, RefusalReason
from bot.domain.verification_state import VerifyStatus
from bot.service.changes import change
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.store.base import HubLocked, UnitOfWork

_S = DrillStatus
BUSY_RETRY = timedelta(minutes=1)  # the hub held by another request when the failback is due


@dataclass(frozen=True)
class DrillStep:
    """What one step did: the drill as saved, and what its thread is told (if anything)."""

    drill: Drill
    said: str | None = None
    request: FailoverRequest | None = None  # the failover leg: the drill's thread


class Drilling:
    def __init__(self, deps: ServiceDeps, hubs: Hubs) -> None:
        self.deps, self.hubs = deps, hubs

    def get(self, drill_id: str) -> Drill | None:
        with self.deps.uow() as uow:
            return uow.drills.get(drill_id)

    def advance(self, drill: Drill) -> DrillStep:
        now = self.deps.clock.now()
        with self.deps.uow() as uow:
            current = uow.drills.get(drill.id)
            leg = uow.requests.get(current.failover_request_id) if current else None
            if current is None or leg is None:
                return DrillStep(current or drill)
            if current.status.ended:
                return DrillStep(current, current.untold, leg)  # tell what was not told yet
            step = self._step(uow, current, leg, now)
            # Telling never holds a step back (Slack down at the cool-down's end): what was
            # not told yet is told with the new step's line.
            untold = "\n\n".join(t for t in (current.untold, step.said) if t) or None
            saved = step.drill if step.said is None else step.drill.evolve(untold=untold)
            if saved.version != current.version and not uow.drills.save(saved,
                                                                       current.version):
                return DrillStep(current)  # another replica stepped it meanwhile
            uow.commit()
        return DrillStep(saved, saved.untold, leg)

    def told(self, drill: Drill) -> None:
        """Its last step was told (the thread has it): nothing more to tell until the next."""
        with self.deps.uow() as uow:
            current = uow.drills.get(drill.id)
            if current is not None and current.untold is not None:
                uow.drills.save(current.evolve(untold=None), current.version)
                uow.commit()

    def _step(self, uow: UnitOfWork, drill: Drill, leg: FailoverRequest,
              now: datetime) -> DrillStep:
        later = now + self.deps.poll_interval
        if drill.status is _S.ASKED:
            if leg.status in (RequestStatus.REJECTED, RequestStatus.CANCELLED,
                              RequestStatus.EXPIRED):
                return self._ended(uow, drill, _S.STOPPED if drill.stopped_by else _S.NOT_RUN,
                                   now, f"The drill did not run: its failover was "
                                        f"{leg.status.value.replace('_', ' ')}.")
            if leg.status is RequestStatus.AWAITING_APPROVAL:
                return DrillStep(drill.evolve(next_step_at=later))
            drill = drill.evolve(status=_S.FAILING_OVER, approved_by=leg.approved_by,
                                 next_step_at=now)
        if drill.status is _S.FAILING_OVER:
            if leg.status is RequestStatus.CANCELLED and drill.stopped_by:
                return self._ended(uow, drill, _S.STOPPED, now, "Stopped before its failover "
                                   "started: nothing moved.")
            if leg.status in (RequestStatus.FAILED, RequestStatus.CANCELLED,
                              RequestStatus.SKIPPED):
                return self._ended(uow, drill, _S.FAILED, now, self._failed_words(leg))
            if leg.status is not RequestStatus.SUCCEEDED:
                return DrillStep(drill.evolve(next_step_at=later))
            allowed = self.hubs.failback_allowed_at(uow, drill.hub)
            failback_at = max(now, allowed or now)
            said = (f"Drill `{drill.id}`: the failover leg succeeded. The failback leg starts "
                    f"by itself at {minute_up(failback_at):%H:%M} UTC, at the end of Azure's "
                    "cool-down (the approval covered both legs; Azure allows no sooner).")
            uow.events.append(drill.audit(now, AuditAction.DRILL, note="failback scheduled",
                                          failback_at=failback_at.isoformat()))
            return DrillStep(drill.evolve(status=_S.COOLING_DOWN, failback_at=failback_at,
                                          next_step_at=failback_at), said)
        if drill.status is _S.COOLING_DOWN:
            if drill.failback_at is not None and now < drill.failback_at:
                return DrillStep(drill.evolve(next_step_at=drill.failback_at))
            return self._fail_back(uow, drill, leg, now)
        if drill.status is _S.FAILING_BACK:
            back = uow.requests.get(drill.failback_request_id or "")
            if back is None or back.status in (RequestStatus.FAILED, RequestStatus.CANCELLED,
                                               RequestStatus.SKIPPED):
                return self._ended(uow, drill, _S.FAILED, now, self._failed_words(back))
            if back.status is not RequestStatus.SUCCEEDED or not self._verdicts_in(uow, drill):
                return DrillStep(drill.evolve(next_step_at=later))
            return self._ended(uow, drill, _S.DONE, now, None)
        return DrillStep(drill)

    def _fail_back(self, uow: UnitOfWork, drill: Drill, leg: FailoverRequest,
                   now: datetime) -> DrillStep:
        """The failback leg, created approved by the drill's approver: once (the drill's
        compare-and-set commits with it), and started by the poller at once."""
        short = self.hubs.quota_refusal(uow, drill.hub, OperationKind.FAILBACK)
        if short is not None and short.reason is RefusalReason.COOLDOWN and short.allowed_at:
            # An operation outside the bot moved the cool-down's end: wait for it.
            return DrillStep(drill.evolve(failback_at=short.allowed_at,
                                          next_step_at=short.allowed_at))
        if short is not None and short.reason is RefusalReason.QUOTA_EXHAUSTED:
            return self._ended(uow, drill, _S.FAILED, now, f"The failback leg could not "
                               f"start: {short.message} Fail the hub back by hand.")
        approver = drill.approved_by or leg.approved_by or drill.requested_by
        back = FailoverRequest(
            id=new_request_id(), hub=leg.hub, kind=OperationKind.FAILBACK,
            status=RequestStatus.AWAITING_APPROVAL, requested_by=drill.requested_by,
            reason=f"{drill.reason} (drill {drill.id}: its failback leg)",
            channel_id=drill.channel_id, created_at=now,
            expires_at=now + self.deps.request_ttl, region_before=leg.region_target,
            region_target=leg.region_before, device_count=leg.device_count,
            consumers=leg.consumers, drill_id=drill.id)
        try:
            uow.requests.add(back)
        except HubLocked:  # an incident took the hub meanwhile: its own request decides
            return DrillStep(drill.evolve(next_step_at=now + BUSY_RETRY))
        uow.events.append(back.requested())
        approved = change(uow, back, lambda r: r.approve(now, approver, now))
        return DrillStep(drill.evolve(status=_S.FAILING_BACK,
                                      failback_request_id=(approved or back).id,
                                      next_step_at=now + self.deps.poll_interval),
                         f"Drill `{drill.id}`: the failback leg `{back.id}` starts now, "
                         f"approved with the drill by <@{approver}>.")

    def _verdicts_in(self, uow: UnitOfWork, drill: Drill) -> bool:
        if self.deps.verify_rules is None or self.deps.hub_metrics is None:
            return True
        for request_id in (drill.failover_request_id, drill.failback_request_id):
            verification = uow.verifications.get(request_id or "")
            if verification is not None and not verification.status.final:
                return False
        return True

    def _ended(self, uow: UnitOfWork, drill: Drill, status: DrillStatus, now: datetime,
               failure: str | None) -> DrillStep:
        report = self._report(uow, drill, now, failure)
        ended = drill.evolve(status=status, ended_at=now, next_step_at=None, report=report)
        uow.events.append(ended.audit(now, AuditAction.DRILL, note=f"drill {status.value}",
                                      report=report))
        return DrillStep(ended, report_words(ended))

    def _report(self, uow: UnitOfWork, drill: Drill, now: datetime,
                failure: str | None) -> dict[str, Any]:
        line = self.deps.timeline
        legs: dict[str, Any] = {}
        for key, request_id in (("failover", drill.failover_request_id),
                                ("failback", drill.failback_request_id)):
            leg = uow.requests.get(request_id) if request_id else None
            verification = uow.verifications.get(request_id) if request_id else None
            done = line.azure(leg.completed_at) if leg and leg.completed_at else None
            legs[key] = leg_figures(leg, verification, done)
        previous = next((d for d in uow.drills.history(drill.hub, limit=20)
                         if d.id != drill.id and d.status is _S.DONE and d.report), None)
        before = (previous.report or {}).get("legs", {}) if previous else {}
        words = {key: compared(legs[key], before.get(key),
                               previous.created_at if previous else None,
                               home=key == "failback") for key in legs}
        used = {kind: int(bool(legs[kind].get("ran"))) for kind in legs}
        return {"drill": drill.id, "hub": drill.hub, "legs": legs, "said": words,
                "quota_used": used, "failure": failure, "stopped_by": drill.stopped_by,
                "previous": previous.id if previous else None, "ended_at": now.isoformat()}

    @staticmethod
    def _failed_words(leg: FailoverRequest | None) -> str:
        if leg is None:
            return "Its failback leg is missing."
        why = leg.error_message or leg.status.value.replace("_", " ")
        return (f"The {leg.kind.value} leg `{leg.id}` did not succeed: {why}"
                + (f" ({leg.error_code})" if leg.error_code else "") + ".")

    # ---- Stop drill -----------------------------------------------------------------------

    def stop(self, actor: Actor, drill_id: str,
             clicked: ClickedMessage | None = None) -> Drill | Refusal:
        """Cancel a leg not started; a hub already moving or moved comes home as soon as
        Azure allows (the failback leg's time does not move: it is the cool-down's end)."""
        now = self.deps.clock.now()
        with self.deps.uow() as uow:
            drill = uow.drills.get(drill_id)
            if drill is None:
                return Refusal(RefusalReason.NOT_FOUND, f"No drill `{drill_id}`.")
            leg = uow.requests.get(drill.failover_request_id)
            refusal = ((clicked and _not_its_message(leg, clicked))
                       or (self.deps.access.check_canceller(actor, leg) if leg else None))
            if refusal is not None:
                return refusal
            if drill.status.ended or drill.stopped_by:
                return Refusal(RefusalReason.ALREADY_DECIDED,
                               f"Drill `{drill.id}` is {drill.status.value.replace('_', ' ')}"
                               f"{' and was stopped already' if drill.stopped_by else ''}.")
            stopped = drill.evolve(stopped_by=actor.user_id, stopped_at=now, next_step_at=now)
            if leg is not None and leg.status in (RequestStatus.AWAITING_APPROVAL,
                                                  RequestStatus.APPROVED):
                transition = (leg.cancel if leg.status is RequestStatus.AWAITING_APPROVAL
                              else leg.stop)
                change(uow, leg, lambda r: transition(now, actor.user_id))
            uow.events.append(stopped.audit(now, AuditAction.DRILL, actor.user_id,
                                            note="Stop drill", phase=drill.status.value))
            if not uow.drills.save(stopped, drill.version):
                return Refusal(RefusalReason.ALREADY_DECIDED, "The drill changed meanwhile; "
                               "try again.")
            uow.commit()
        return stopped


def _not_its_message(leg: FailoverRequest | None,
                     clicked: ClickedMessage) -> Refusal | None:
    """Stop drill is on the drill's approval message and the replies in its thread only."""
    if leg is not None and leg.message_ts and clicked.channel_id == leg.channel_id and (
            leg.message_ts in (clicked.message_ts, clicked.thread_ts)):
        return None
    return Refusal(RefusalReason.WRONG_MESSAGE, "That button does not belong to this drill's "
                   "messages. Nothing was done; use the one in the drill's thread.")


def report_words(drill: Drill) -> str:
    """The report, in a few lines (the thread and ``/iothub drills``)."""
    report = drill.report or {}
    said = report.get("said", {})
    head = {_S.DONE: "Drill report", _S.FAILED: "Drill failed", _S.STOPPED: "Drill stopped",
            _S.NOT_RUN: "Drill not run"}.get(drill.status, "Drill")
    lines = [f"{head}: `{drill.hub}` (`{drill.id}`)"]
    for leg in ("failover", "failback"):
        figures = report.get("legs", {}).get(leg, {})
        if not figures.get("ran"):
            continue
        parts = list(said.get(leg, {}).values())
        verdict = figures.get("verdict")
        if verdict:
            parts.append("verdict: " + VerifyStatus(verdict).value.replace("_", " "))
        lines.append(f"• {leg.capitalize()}: " + ("; ".join(parts) or "ran"))
    used = report.get("quota_used", {})
    if used:
        lines.append(f"• Quota used: {used.get('failover', 0)} failover, "
                     f"{used.get('failback', 0)} failback")
    if report.get("failure"):
        lines.append(f"• {report['failure']}")
    if drill.stopped_by:
        lines.append(f"• Stopped by <@{drill.stopped_by}>.")
    return "\n".join(lines)
