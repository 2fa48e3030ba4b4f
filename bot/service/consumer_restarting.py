"""After a move: the consumers its approval approved, restarted once each.

The plan is the request's (``FailoverRequest.consumers``, what the approver saw); when Azure
reports the move Succeeded the consumers to restart become pending actions in the same
transaction. A process takes one (a conditional update) before it asks Azure, then records
what Azure said, audited; one that died while acting leaves it ``interrupted``, said and
never sent again. A consumer that cannot be restarted is reported and blocks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bot.domain.consumer_action import ConsumerAction
from bot.domain.consumer_results import RestartOutcome, RestartResult
from bot.domain.request import FailoverRequest, RequestStatus
from bot.service.dependencies import ServiceDeps
from bot.store.base import UnitOfWork

log = logging.getLogger(__name__)

# An action's lease: the longest a restart may take (a Stream Analytics job's stop and start,
# with back-off: bot.hubs.azure_consumers.Retries.deadline) and a margin. A process that has
# not finished by then is taken for dead, and its action for interrupted.
ACTING_LEASE = timedelta(minutes=12)


class ConsumerRestarting:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps

    @property
    def on(self) -> bool:
        """This process can restart consumers (a deployment without, lists them only)."""
        return self.deps.consumer_restarts is not None

    def plan_after(self, uow: UnitOfWork, request: FailoverRequest) -> None:
        """In the success's transaction: the consumers to restart, pending."""
        declared = request.consumers
        if request.status is not RequestStatus.SUCCEEDED or declared is None:
            return
        actions = [ConsumerAction(request.id, request.hub.name, request.kind, consumer,
                                  batch_id=request.batch_id)
                   for consumer in declared.to_restart]
        if actions:
            uow.consumer_actions.plan(actions, self.deps.clock.now())

    def take(self, owner: str, limit: int) -> list[ConsumerAction]:
        with self.deps.uow() as uow:
            taken = uow.consumer_actions.take_pending(owner, self.deps.clock.now(),
                                                      ACTING_LEASE, limit)
            uow.commit()
        return taken

    def act(self, action: ConsumerAction, owner: str) -> ConsumerAction:
        """Ask Azure once (a pool thread: a Stream Analytics job takes minutes)."""
        restarts = self.deps.consumer_restarts
        if restarts is None:
            result = RestartResult(action.consumer, RestartOutcome.FAILED, 0.0, requests=0,
                                   message="this deployment cannot restart consumers")
        else:
            result = restarts.restart_consumer(action.consumer)
        finished = action.finished(result, self.deps.clock.now())
        detail: dict[str, object] = {"seconds": round(result.seconds, 1),
                                     "requests": result.requests}
        if result.code:
            detail["error_code"] = result.code
        with self.deps.uow() as uow:
            if uow.consumer_actions.finish(finished, owner=owner):
                uow.events.append(finished.audit_event(detail))
                uow.commit()
            else:  # our lease lapsed and another process said "interrupted" already
                log.warning("%s: %s ended after its lease", action.request_id,
                            action.consumer.label)
        self._count(finished)
        return finished

    def reap_lapsed(self, limit: int = 50, *,
                    gone: Callable[[str], bool] | None = None) -> int:
        """Actions whose process died while acting: interrupted, said, never sent again.
        Those whose lease lapsed, and those of an owner ``gone`` says is provably dead (a
        work process restarted on the same host): said at once, not 12 minutes later."""
        now = self.deps.clock.now()
        with self.deps.uow() as uow:
            ended: list[tuple[ConsumerAction, str | None]] = [
                (action, None) for action in uow.consumer_actions.lapsed(now, limit)]
            if gone is not None:
                ended += [(action, owner) for action, owner in uow.consumer_actions.acting(limit)
                          if gone(owner)]
            reaped = 0
            for action, owner in ended:
                interrupted = action.interrupted(now)
                if uow.consumer_actions.finish(interrupted, owner=owner):
                    uow.events.append(interrupted.audit_event())
                    self._count(interrupted)
                    reaped += 1
            uow.commit()
        return reaped

    def untold(self, limit: int = 20) -> list[tuple[FailoverRequest, ConsumerAction]]:
        with self.deps.uow() as uow:
            found = []
            for action in uow.consumer_actions.untold(limit):
                request = uow.requests.get(action.request_id)
                if request is not None:
                    found.append((request, action))
        return found

    def told(self, action: ConsumerAction) -> None:
        with self.deps.uow() as uow:
            uow.consumer_actions.mark_told(action)
            uow.commit()

    def _count(self, action: ConsumerAction) -> None:
        if self.deps.metrics is not None and action.outcome is not None:
            self.deps.metrics.consumer_actions_total.labels(outcome=action.outcome.value).inc()
