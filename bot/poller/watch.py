"""One look at one operation, on a poller worker thread: start it or observe it.

The lease is checked first (the claim may have waited in the pool's queue). What a progress
message needs (the estimate, the milestones already announced) is cached per request here,
read from the store once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.request import FailoverRequest, RequestStatus
from bot.hubs.gateway import OperationPoll, OperationState
from bot.notifications import Milestone
from bot.service import FailoverService, Observation
from bot.service.notices import announced_milestones
from bot.store.base import UnitOfWorkFactory
from bot.telemetry import Metrics, bind_request_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Polled:
    """What one worker saw; ``lost`` means another replica took the lease first."""

    request: FailoverRequest
    observation: Observation | None = None
    failed: bool = False
    lost: bool = False
    estimate: timedelta | None = None
    announced: frozenset[Milestone] = frozenset()
    polled_at: datetime | None = None  # when Azure was asked


class Watch:
    def __init__(self, service: FailoverService, uow_factory: UnitOfWorkFactory, clock: Clock,
                 owner_id: str, lease_ttl: timedelta, metrics: Metrics | None) -> None:
        self._starting, self._observing = service.starting, service.observing
        self._hubs = service.hubs
        self._uow, self._clock, self._metrics = uow_factory, clock, metrics
        self._owner_id, self._lease_ttl = owner_id, lease_ttl
        self._lock = threading.Lock()  # guards the caches the workers read
        self._estimates: dict[str, timedelta] = {}
        self._announced: dict[str, set[Milestone]] = {}

    def poll(self, request: FailoverRequest) -> Polled:
        asked_at = self._clock.now()
        with bind_request_id(request.id):  # every log line of this poll names the request
            return replace(self._poll_bound(request), polled_at=asked_at)

    def announced(self, request_id: str, milestone: Milestone) -> None:
        """``milestone`` was sent (and recorded)."""
        with self._lock:
            self._announced.setdefault(request_id, set()).add(milestone)

    def forget_estimate(self, request_id: str) -> None:
        with self._lock:
            self._estimates.pop(request_id, None)

    def forget_announced(self, request_id: str) -> None:
        with self._lock:
            self._announced.pop(request_id, None)

    def _poll_bound(self, request: FailoverRequest) -> Polled:
        # The claim may have waited in the pool's queue: make sure the lease is still ours.
        with self._uow() as uow:
            ours = uow.leases.renew_lease(request.id, self._owner_id,
                                          self._clock.now() + self._lease_ttl)
            uow.commit()
        if not ours:
            return Polled(request, lost=True)
        if self._metrics is not None and request.next_poll_at is not None:
            self._metrics.poll_ran((self._clock.now() - request.next_poll_at).total_seconds())
        try:
            if request.status is RequestStatus.APPROVED:
                # Approved but never started (the approver's process died, or Azure could
                # not take it yet): the compare-and-set of the start makes sure only one
                # caller ever POSTs; our lease covers the POST.
                started = self._starting.start(request.id, lease_owner=self._owner_id)
                observation = None if started is None else Observation(
                    started, OperationPoll(OperationState.RUNNING)
                    if started.status is RequestStatus.RUNNING and started.operation_handle
                    else None)
            else:
                observation = self._observing.observe(request.id)
        except Exception:
            log.exception("polling %s failed", request.id)
            return Polled(request, failed=True)
        if observation is None or observation.request.status is not RequestStatus.RUNNING:
            return Polled(request, observation)
        estimate, announced = self._progress_context(observation.request)
        return Polled(request, observation, estimate=estimate, announced=announced)

    def _progress_context(self, request: FailoverRequest) -> tuple[timedelta,
                                                                  frozenset[Milestone]]:
        with self._lock:
            estimate = self._estimates.get(request.id)
            announced = self._announced.get(request.id)
        if estimate is None or announced is None:
            with self._uow() as uow:
                durations = uow.requests.recent_durations(request.hub.name)
                announced = announced_milestones(uow, request.id)
            estimate = self._hubs.estimate(request.device_count, durations)
            with self._lock:
                self._estimates[request.id] = estimate
                announced = self._announced.setdefault(request.id, announced)
        return estimate, frozenset(announced)
