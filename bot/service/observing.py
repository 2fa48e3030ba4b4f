"""Following a running operation: one look at Azure per call, and its end recorded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.durations import humanize
from bot.domain.model import HubState, OperationKind
from bot.domain.regions import same_region
from bot.domain.request import FailoverRequest, RequestStatus
from bot.hubs.gateway import GatewayError, OperationPoll, OperationState, Throttled, TransientError
from bot.notifications import CompletionReport
from bot.service.changes import change
from bot.service.consumer_restarting import ConsumerRestarting
from bot.service.dependencies import ServiceDeps
from bot.service.hubs import Hubs
from bot.service.refusals import Refusals
from bot.service.starting import ProcessMemory, Starting

log = logging.getLogger(__name__)

# "Nothing is running" needs the hub seen quiet (ready, where it was) for this long at least,
# and for this many poll intervals: Azure may take a while to act on a POST it accepted.
NOT_STARTED_AFTER = timedelta(minutes=5)
NOT_STARTED_POLLS = 10


@dataclass(frozen=True)
class Observation:
    """One look at a running operation, as the poller needs it."""

    request: FailoverRequest
    poll: OperationPoll | None
    retry_after: float | None = None
    report: CompletionReport | None = None

    @property
    def finished(self) -> bool:
        return self.request.status.is_terminal


class Observing:
    def __init__(self, deps: ServiceDeps, hubs: Hubs, refusals: Refusals, starts: Starting,
                 consumers: ConsumerRestarting) -> None:
        self.deps, self.hubs, self.refusals, self.starting = deps, hubs, refusals, starts
        self.consumers = consumers
        self.memory: ProcessMemory = starts.memory

    def observe(self, request_id: str) -> Observation | None:
        """Poll a running request's operation once and record its end."""
        with self.deps.uow() as uow:
            request = uow.requests.get(request_id)
        if request is None:
            return None
        if request.status is not RequestStatus.RUNNING:
            return Observation(request, None)
        handle = request.operation_handle
        if not handle:
            with self.memory.lock:
                handle = self.memory.unsaved.get(request.id)
            if handle is None:
                return self._observe_without_handle(request)
            request = self.starting.store_handle(request, handle, None)  # Azure's answer, kept
        try:
            poll = self.deps.gateway.poll(request.hub, handle)
        except (Throttled, TransientError) as exc:
            log.warning("poll of %s failed: %s", request.id, exc.code)
            return Observation(request, None, retry_after=exc.retry_after)
        except GatewayError as exc:
            # The operation cannot be looked at (gone, or a handle Azure no longer knows):
            # follow the hub itself instead of polling a dead handle for ever.
            log.warning("operation of %s unreadable (%s): following the hub", request.id,
                        exc.code)
            return self._observe_without_handle(request, lost=f"Azure no longer knows the "
                                                f"operation ({exc.code}: {exc.message})")
        if poll.state is OperationState.RUNNING:
            return Observation(request, poll, retry_after=poll.retry_after)
        if poll.state is OperationState.FAILED:
            failed = self.starting.finish_failed(request, poll.error_code or "Failed",
                                               poll.error_message or "Azure reported a failure.")
            return Observation(failed, poll, report=self._report(failed))
        return self._finish_succeeded(request, poll)

    def report(self, request: FailoverRequest, hub: HubState | None = None) -> CompletionReport:
        """What the completion message needs: quota left today and the failback window."""
        # Where the hub is now: moved by this request if it succeeded, else where it was.
        at_home = (request.kind is OperationKind.FAILOVER) != (
            request.status is RequestStatus.SUCCEEDED)
        read = self.hubs.histories.read(request.hub, at_home)
        with self.deps.uow() as uow:
            history = self.hubs.histories.merge(uow, read)
            quota_left = self.hubs.quota_left(uow, request.hub.name, request.kind, history)
            failback_at = self.hubs.failback_allowed_at(uow, request.hub.name, history)
        self.hubs.histories.record_observed(self.deps.uow, request.hub.name, history)
        verifying = (self.starting.verifying.on
                     and request.status is RequestStatus.SUCCEEDED)
        return CompletionReport(request, hub, quota_left, failback_at, verifying)

    def _report(self, request: FailoverRequest,
                hub: HubState | None = None) -> CompletionReport | None:
        """A batch's hub ends on its board, not in a message of its own: no report for it (a
        report costs an Activity Log query per hub, a thousand in a regional outage)."""
        return None if request.batch_id else self.report(request, hub)

    def _observe_without_handle(self, request: FailoverRequest,
                                lost: str | None = None) -> Observation:
        """No usable handle (a crash before Azure answered, or an operation Azure forgot):
        decide from the hub's own state, and never POST again.

        The poller only gets here when no lease is live, i.e. no process is waiting for an
        answer to a POST of this request (this one's memory is checked too). "Nothing is
        running" then still needs positive evidence over a long span: the hub seen ready in
        its original region, continuously, for max(5 min, 10 polls) since the POST.
        """
        with self.memory.lock:
            posting = request.id in self.memory.posting
        if posting:
            return Observation(request, None)
        try:
            hub = self.deps.gateway.get_state(request.hub, with_device_count=False)
        except GatewayError as exc:
            return Observation(request, None, retry_after=exc.retry_after)
        moved = same_region(hub.active_region, request.region_target)
        if moved or not hub.is_ready:
            with self.memory.lock:
                self.memory.quiet_since.pop(request.id, None)
            if moved and hub.is_ready:
                return self._finish_succeeded(request, OperationPoll(OperationState.SUCCEEDED),
                                              hub)
            return Observation(request, OperationPoll(OperationState.RUNNING))  # Azure is at it
        now = self.deps.clock.now()
        with self.memory.lock:
            quiet_since = self.memory.quiet_since.setdefault(request.id, now)
        span = max(NOT_STARTED_AFTER, self.deps.poll_interval * NOT_STARTED_POLLS)
        since = request.started_at or quiet_since
        if now - quiet_since < span or now - since < span:
            return Observation(request, None)
        with self.memory.lock:
            self.memory.quiet_since.pop(request.id, None)
        why = lost or "Azure never confirmed the request (the bot stopped or lost its answer)"
        failed = self.starting.finish_failed(
            request, "NotStarted",
            f"{why}. Since then no request to Azure has been in flight, and for "
            f"{humanize(now - quiet_since)} the hub has stayed {hub.state} in "
            f"{hub.active_display} with no failover: nothing is running. Request it again if "
            "it is still needed.")
        return Observation(failed, None, report=self._report(failed))

    def _finish_succeeded(self, request: FailoverRequest, poll: OperationPoll,
                          hub: HubState | None = None) -> Observation:
        if hub is None:
            try:
                hub = self.deps.gateway.get_state(request.hub)
            except GatewayError:
                hub = None
        now = self.deps.clock.now()
        after = hub.active_region if hub else request.region_target
        with self.deps.uow() as uow:
            endpoint = hub.event_hub_endpoint if hub else None
            done = change(uow, request, lambda r: r.succeed(now, after, endpoint))
            if done is None:
                current = uow.requests.get(request.id) or request
                return Observation(current, poll)
            # In the same transaction: the watch over the hub, and the approved restarts.
            self.starting.verifying.after_end(uow, done)
            self.consumers.plan_after(uow, done)
            uow.commit()
        self.refusals.counted(done)
        return Observation(done, poll, report=self._report(done, hub))
