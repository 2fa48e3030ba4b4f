"""Deciding on a request: approve, reject, cancel, and expiry when nobody decided."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.domain.clicks import ClickedMessage, check_request_button
from bot.domain.model import OperationKind
from bot.domain.policy import Actor, check_decidable
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, RefusalReason
from bot.hub_history import ActivityRead, HubHistory
from bot.service.changes import change
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.store.base import UnitOfWork


@dataclass(frozen=True)
class Decision:
    """The result of approve/reject/cancel: the request as it now is, and a refusal if any."""

    request: FailoverRequest | None
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None

    @property
    def outcome(self) -> FailoverRequest | Refusal:
        """The refusal if any, else the request as the decision left it."""
        if self.refusal is not None:
            return self.refusal
        if self.request is None:
            raise ValueError("a decision holds a refusal or its request; this holds neither")
        return self.request


class Deciding:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals) -> None:
        self.deps, self.hubs, self.refusals = deps, hubs, refusals

    def approve(self, actor: Actor, request_id: str,
                clicked: ClickedMessage | None = None) -> Decision:
        """Approve, after re-checking policy, quota and cool-down; at most one approval wins.
        ``clicked``: the message whose button asked for it (None: not a button)."""
        pending = self._get(request_id)
        # Azure's Activity Log is read before the transaction: it is an HTTP call.
        read = (self.hubs.histories.read(pending.hub, pending.kind is OperationKind.FAILOVER)
                if pending is not None and pending.status is RequestStatus.AWAITING_APPROVAL
                else None)
        return self._decide(
            actor, request_id, clicked,
            check=lambda uow, r: (self.deps.access.check_approver(actor, r)
                                  or self._quota(uow, r, read)),
            act=lambda uow, r: mark_approved(self.deps, uow, r, actor.user_id))

    def _quota(self, uow: UnitOfWork, request: FailoverRequest,
               read: ActivityRead | None) -> Refusal | None:
        """Today's quota, again; a drill's failover leg never takes the day's last one."""
        history = self.hubs.histories.merge(uow, read) if read else HubHistory()
        refusal = self.hubs.quota_refusal(uow, request.hub.name, request.kind, history)
        if refusal is None and request.drill_id and request.kind is OperationKind.FAILOVER:
            short = self.hubs.histories.quota_refusal(uow, request.hub.name, request.kind,
                                                      history, spare=1)
            if short is not None and short.reason is RefusalReason.QUOTA_EXHAUSTED:
                return Refusal(RefusalReason.DRILL_QUOTA, "A drill never uses the day's last "
                               "failover, and one was used since it was asked for.",
                               short.allowed_at)
        return refusal

    def reject(self, actor: Actor, request_id: str, note: str = "",
               clicked: ClickedMessage | None = None) -> Decision:
        """An approver turns the request down; the requester's own Reject withdraws it, as
        ``/iothub cancel`` does (audited as cancelled)."""
        request = self._get(request_id)
        if request is not None and request.requested_by == actor.user_id:
            return self.cancel(actor, request_id, clicked)
        return self._close(actor, request_id, RequestStatus.REJECTED,
                           self.deps.access.check_approver, note, clicked)

    def cancel(self, actor: Actor, request_id: str,
               clicked: ClickedMessage | None = None) -> Decision:
        """The requester (or an approver) withdraws a request that has not started."""
        decision = self._close(actor, request_id, RequestStatus.CANCELLED,
                               self.deps.access.check_canceller, "", clicked)
        request, refusal = decision.request, decision.refusal
        if (refusal and refusal.reason is RefusalReason.ALREADY_DECIDED and request
                and request.status.is_open):
            # Too late to withdraw: the answer shows what is running and what to do instead.
            return Decision(request, replace(refusal, request=request))
        return decision

    def expire_due(self) -> list[FailoverRequest]:
        """Expire every request whose approval window has passed."""
        now = self.deps.clock.now()
        expired: list[FailoverRequest] = []
        with self.deps.uow() as uow:
            for request in uow.requests.due_for_expiry(now):
                done = change(uow, request, lambda r: r.expire(now))
                if done:
                    expired.append(done)
            uow.commit()
        return [self.refusals.counted(r) for r in expired]

    def _close(self, actor: Actor, request_id: str, status: RequestStatus,
               check: Callable[[Actor, FailoverRequest], Refusal | None], note: str,
               clicked: ClickedMessage | None) -> Decision:
        def close(uow: UnitOfWork, request: FailoverRequest) -> FailoverRequest | None:
            now = self.deps.clock.now()
            if status is RequestStatus.REJECTED:
                return change(uow, request, lambda r: r.reject(now, actor.user_id, note))
            return change(uow, request, lambda r: r.cancel(now, actor.user_id))

        decision = self._decide(actor, request_id, clicked, check=lambda _, r: check(actor, r),
                                act=close)
        if decision.ok and decision.request is not None:
            self.refusals.counted(decision.request)
        return decision

    def _decide(self, actor: Actor, request_id: str, clicked: ClickedMessage | None,
                check: Callable[[UnitOfWork, FailoverRequest], Refusal | None],
                act: Callable[[UnitOfWork, FailoverRequest], FailoverRequest | None]) -> Decision:
        """Check, then compare-and-set; the loser of a race is told what happened instead.
        A click is checked first against the message it was made on (``bot.domain.clicks``)."""
        with self.deps.uow() as uow:
            request = uow.requests.get(request_id)
            refusal = None if request is None else (
                (check_request_button(request, clicked) if clicked else None)
                or check_decidable(request, self.deps.clock.now()) or check(uow, request))
            if request is not None and refusal is None:
                done = act(uow, request)
                if done is not None:
                    uow.commit()
                    return Decision(done)
                request = uow.requests.get(request_id) or request
                refusal = check_decidable(request, self.deps.clock.now())
        # Refusals are audited in a unit of work of their own, after this one is closed.
        if request is None:
            return self._not_found(actor, request_id)
        if refusal is None:  # its compare-and-set lost, yet it is still undecided
            raise RuntimeError(f"request {request.id} changed while being decided, and is "
                               "still undecided: nothing was decided")
        self.refusals.refuse(refusal, actor.user_id, request.hub.name, request.kind, request.id,
                             batch_id=request.batch_id)
        return Decision(request, refusal)

    def _not_found(self, actor: Actor, request_id: str) -> Decision:
        refusal = Refusal(RefusalReason.NOT_FOUND, f"There is no request `{request_id[:40]}`.")
        return Decision(None, self.refusals.refuse(refusal, actor.user_id, None, None, None))

    def _get(self, request_id: str) -> FailoverRequest | None:
        with self.deps.uow() as uow:
            return uow.requests.get(request_id)


def mark_approved(deps: ServiceDeps, uow: UnitOfWork, request: FailoverRequest,
                  approver: str) -> FailoverRequest | None:
    """Approve in ``uow`` (also the policy's own approval, when none is required)."""
    # next_poll_at: should the approver's process die before starting it, the poller will.
    now = deps.clock.now()
    return change(uow, request, lambda r: r.approve(now, approver, now + deps.poll_interval))
