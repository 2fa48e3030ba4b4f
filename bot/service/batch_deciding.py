"""Deciding on a regional batch: approve (pacing its starts), reject, expire, stop the rest,
retry the failed hubs.

Each change of the batch is a compare-and-set on its version, and each hub's change one on
its request's, so a double click, two approvers or two replicas still give one approval and
at most one POST per hub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from bot.domain.batch import (
    Batch,
    BatchChange,
    BatchRefused,
    check_batch_decidable,
    latest_per_hub,
)
from bot.domain.clicks import ClickedMessage, check_batch_button
from bot.domain.model import AuditAction
from bot.domain.pacing import start_slots
from bot.domain.policy import Actor
from bot.domain.request import SYSTEM, FailoverRequest, RequestStatus, new_request_id
from bot.domain.rules import Refusal, RefusalReason
from bot.service.asking import AUTO_APPROVER
from bot.service.changes import change
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.service.regional import BatchSubmitted
from bot.store.base import HubLocked, UnitOfWork


@dataclass(frozen=True)
class BatchDecision:
    """The batch as it now is, its hubs' requests, and a refusal if any; ``changed``: how
    many hubs this decision moved on (approved, stopped, retried)."""

    batch: Batch | None
    members: list[FailoverRequest]
    refusal: Refusal | None = None
    changed: int = 0

    @property
    def ok(self) -> bool:
        return self.refusal is None


class BatchDeciding:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals) -> None:
        self.deps, self.hubs, self.refusals = deps, hubs, refusals

    def approve(self, actor: Actor, batch_id: str,
                clicked: ClickedMessage | None = None) -> BatchDecision:
        """Approve every hub still waiting, with start slots one interval apart. ``clicked``
        (each use case here): the message whose button asked for it (None: not a button)."""
        return self._decide(actor, batch_id, approve=True, clicked=clicked)

    def reject(self, actor: Actor, batch_id: str, note: str = "",
               clicked: ClickedMessage | None = None) -> BatchDecision:
        return self._decide(actor, batch_id, approve=False, note=note, clicked=clicked)

    def approve_at_once(self, submitted: BatchSubmitted) -> BatchSubmitted:
        """The policy's own approval, when none is required."""
        decision = self._decide(Actor(AUTO_APPROVER), submitted.batch.id, approve=True,
                                policy=True)
        return replace(submitted, batch=decision.batch or submitted.batch,
                       members=decision.members)

    def stop(self, actor: Actor, batch_id: str,
             clicked: ClickedMessage | None = None) -> BatchDecision:
        """"Stop the rest": every hub not started yet is cancelled; running ones go on."""
        with self.deps.uow() as uow:
            batch = uow.batches.get(batch_id)
            refusal = self._not_found(batch_id) if batch is None else (
                _clicked_elsewhere(batch, clicked)
                or self.deps.access.check_canceller(actor, batch))
            if batch is not None and refusal is None and batch.stopped_at is not None:
                refusal = Refusal(RefusalReason.ALREADY_DECIDED,
                                  f"Batch `{batch.id}` was already stopped by "
                                  f"<@{batch.stopped_by}> — nothing to do.")
            if batch is not None and refusal is None:
                now = self.deps.clock.now()
                stopped = [done for r in uow.requests.members(batch.id)
                           if r.status is RequestStatus.APPROVED
                           and (done := change(uow, r, lambda r: r.stop(now, actor.user_id)))]
                saved = self._save(uow, batch, lambda b: b.stop(now, actor.user_id,
                                                                len(stopped)))
                if saved is not None:
                    uow.commit()
                    return BatchDecision(saved, uow.requests.members(batch.id),
                                         changed=len(stopped))
                refusal = Refusal(RefusalReason.ALREADY_DECIDED,
                                  f"Batch `{batch_id}` cannot be stopped now — nothing to do.")
        return self._refused(actor, batch, refusal)

    def retry_failed(self, actor: Actor, batch_id: str,
                     clicked: ClickedMessage | None = None) -> BatchDecision:
        """A new request, approved at once by ``actor`` (same approver rules), for each hub
        whose latest request in the batch failed; each is re-checked before its POST."""
        with self.deps.uow() as uow:
            batch = uow.batches.get(batch_id)
            refusal = self._not_found(batch_id) if batch is None else (
                # "Retry failed" sits on the failure replies, in the board's thread.
                _clicked_elsewhere(batch, clicked, in_thread=True)
                or self.deps.access.check_approver(actor, batch))
            if refusal is not None and refusal.reason is RefusalReason.SELF_APPROVAL:
                refusal = Refusal(RefusalReason.SELF_APPROVAL,
                                  "Retry failed is an approver's button: the hubs are asked for "
                                  "again and approved at once, so a second person, not the "
                                  "batch's requester, must click it.")
            if batch is not None and refusal is None:
                failed = [r for r in latest_per_hub(uow.requests.members(batch.id))
                          if r.status is RequestStatus.FAILED]
                retried = self._retry(uow, batch, failed, actor)
                if retried:
                    uow.batches.reopen_board(batch.id)
                    uow.commit()
                    return BatchDecision(batch, uow.requests.members(batch.id),
                                         changed=len(retried))
                refusal = Refusal(RefusalReason.ALREADY_DECIDED,
                                  f"No hub of batch `{batch_id}` is failed and free to retry "
                                  "— nothing to do.")
        return self._refused(actor, batch, refusal)

    def expire_due(self) -> list[Batch]:
        """Batches nobody decided on in time, with their hubs."""
        now = self.deps.clock.now()
        expired = []
        with self.deps.uow() as uow:
            for batch in uow.batches.due_for_expiry(now):
                done = self._save(uow, batch, lambda b: b.expire(now))
                if done is None:
                    continue
                for request in uow.requests.members(batch.id):
                    change(uow, request, lambda r: r.expire(now))
                expired.append(done)
            uow.commit()
        return expired

    # ---- helpers ---------------------------------------------------------------------------

    def _decide(self, actor: Actor, batch_id: str, *, approve: bool, note: str = "",
                policy: bool = False, clicked: ClickedMessage | None = None) -> BatchDecision:
        with self.deps.uow() as uow:
            batch = uow.batches.get(batch_id)
            now = self.deps.clock.now()
            refusal = self._not_found(batch_id) if batch is None else (
                _clicked_elsewhere(batch, clicked)
                or check_batch_decidable(batch, now)
                or (None if policy or (not approve and actor.user_id == batch.requested_by)
                    # Like a request's Reject: an approver's, or the requester withdrawing.
                    else self.deps.access.check_approver(actor, batch)))
            if batch is not None and refusal is None:
                saved = self._save(uow, batch, (lambda b: b.approve(now, actor.user_id))
                                   if approve else (lambda b: b.reject(now, actor.user_id,
                                                                       note)))
                if saved is not None:
                    members = uow.requests.members(batch.id)
                    moved = (self._approve_members(uow, members, actor.user_id, now)
                             if approve else
                             [r for r in members if change(
                                 uow, r, lambda r: r.reject(now, actor.user_id, note))])
                    uow.commit()
                    return BatchDecision(saved, uow.requests.members(batch.id),
                                         changed=len(moved))
                current = uow.batches.get(batch_id) or batch
                refusal = check_batch_decidable(current, now)
                batch = current
        return self._refused(actor, batch, refusal)

    def _approve_members(self, uow: UnitOfWork, members: list[FailoverRequest],
                         approver: str, now: datetime) -> list[FailoverRequest]:
        waiting = [r for r in members if r.status is RequestStatus.AWAITING_APPROVAL]
        slots = self._slots(uow, len(waiting), now)
        approved = []
        for request, slot in zip(waiting, slots, strict=True):
            # The quota, from this bot's records (each start re-reads the hub, and Azure
            # refuses what is over its own limits, in its own words).
            refusal = self.hubs.quota_refusal(uow, request.hub.name, request.kind)
            if refusal and refusal.reason is RefusalReason.COOLDOWN and refusal.allowed_at:
                slot = max(slot, refusal.allowed_at)  # a failback: as soon as allowed
            elif refusal:
                change(uow, request, partial(FailoverRequest.reject, now=now, actor=SYSTEM,
                                             note=refusal.message))
                continue
            done = change(uow, request, partial(FailoverRequest.approve, now=now,
                                                approver=approver, next_poll_at=slot))
            if done:
                approved.append(done)
        return approved

    def _slots(self, uow: UnitOfWork, count: int, now: datetime) -> list[datetime]:
        """After every start already scheduled for a batch: all batches share one pace."""
        rate = self.deps.batch_starts_per_minute
        last = uow.requests.last_batch_slot()
        earliest = now if last is None or last < now else last + timedelta(minutes=1) / rate
        return start_slots(count, earliest, rate)

    def _retry(self, uow: UnitOfWork, batch: Batch, failed: list[FailoverRequest],
               actor: Actor) -> list[FailoverRequest]:
        now = self.deps.clock.now()
        slots = self._slots(uow, len(failed), now)
        retried = []
        for old, slot in zip(failed, slots, strict=True):
            fresh = old.again(new_request_id(), now, now + self.deps.request_ttl)
            try:
                uow.requests.add(fresh)
            except HubLocked:
                continue
            uow.events.append(fresh.audit(now, AuditAction.REQUESTED, actor.user_id,
                                          reason=fresh.reason, retry_of=old.id))
            done = change(uow, fresh, partial(FailoverRequest.approve, now=now,
                                              approver=actor.user_id, next_poll_at=slot))
            if done:
                retried.append(done)
        return retried

    def _save(self, uow: UnitOfWork, batch: Batch,
              make: Callable[[Batch], BatchChange]) -> Batch | None:
        try:
            changed = make(batch)
        except BatchRefused:
            return None
        if not uow.batches.save(changed.batch, batch.version):
            return None
        uow.events.append(changed.event)
        return changed.batch

    def _not_found(self, batch_id: str) -> Refusal:
        return Refusal(RefusalReason.NOT_FOUND, f"There is no batch `{batch_id[:40]}`.")

    def _refused(self, actor: Actor, batch: Batch | None,
                 refusal: Refusal | None) -> BatchDecision:
        if refusal is None:  # its compare-and-set lost, yet it is still undecided
            raise RuntimeError(f"batch {batch.id if batch else '?'} changed while being "
                               "decided, and is still undecided: nothing was decided")
        self.refusals.refuse(refusal, actor.user_id, None, batch.kind if batch else None,
                             batch_id=batch.id if batch else None)
        members = []
        if batch is not None:
            with self.deps.uow() as uow:
                members = uow.requests.members(batch.id)
        return BatchDecision(batch, members, refusal)


def _clicked_elsewhere(batch: Batch, clicked: ClickedMessage | None, *,
                       in_thread: bool = False) -> Refusal | None:
    return check_batch_button(batch, clicked, in_thread=in_thread) if clicked else None
