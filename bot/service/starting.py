"""Running an approved request: the one POST to Azure, its postponement, its handle.

The APPROVED → RUNNING compare-and-set is the guard against a second POST. This process's
memory (POSTs in flight, handles the database did not take yet) is shared with
:mod:`bot.service.observing`, which follows the operation once it runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.backoff import backoff_delay
from bot.domain.durations import humanize
from bot.domain.model import AuditAction, HubState
from bot.domain.pacing import Admitted, StartPacer
from bot.domain.regions import same_region
from bot.domain.request import FailoverRequest, RequestStatus
from bot.domain.rules import Refusal, RefusalReason, check_direction, check_ready
from bot.hubs.gateway import GatewayError, OperationConflict, Throttled, TransientError
from bot.service.changes import azure_refusal, change
from bot.service.dependencies import ServiceDeps
from bot.service.refusals import Refusals
from bot.service.verifying import Verifying
from bot.store.base import AuditQuery, StoreUnavailable, UnitOfWork

log = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "FailoverOutcomeUnknown"  # the gateway's code for a start whose answer was lost


@dataclass
class ProcessMemory:
    """POSTs in flight here, handles the database did not take yet, and since when the hub of
    a handle-less request has been seen quiet."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    posting: set[str] = field(default_factory=set)
    unsaved: dict[str, str] = field(default_factory=dict)
    quiet_since: dict[str, datetime] = field(default_factory=dict)


class Starting:
    def __init__(self, deps: ServiceDeps, refusals: Refusals, memory: ProcessMemory,
                 verifying: Verifying) -> None:
        self.deps, self.refusals, self.memory, self.verifying = deps, refusals, memory, verifying
        # ARM's write limits: batch POSTs, of every batch and replica, at most this often.
        self.pacer = StartPacer(deps.batch_starts_per_minute, claim=self._claim_turn)

    def start(self, request_id: str, *, lease_owner: str | None = None
              ) -> FailoverRequest | None:
        """Start an approved request: audit row first, then one call to Azure.

        The APPROVED → RUNNING compare-and-set is the guard against a second POST: only the
        caller that wins it talks to Azure, on any replica. While the POST may be in flight
        the row is leased (``lease_owner``: the poller that claimed it; else this service's
        own, released once Azure answered), so no poller decides "nothing is running"
        meanwhile. The first attempt is audited ``started``, later ones ``retry``.
        """
        with self.deps.uow() as uow:
            request = uow.requests.get(request_id)
            taken = uow.pace.last_turn() if request and request.batch_id else None
        if request is None or request.status is not RequestStatus.APPROVED:
            return request
        if not request.batch_id:
            return self._start(request, lease_owner, None)
        # Let in before the re-read (a hub that must wait costs no read), spaced right before
        # the POST: never above the pace.
        admitted = self.pacer.admit(self.deps.clock.now(), taken)
        if isinstance(admitted, datetime):
            return self._come_back(request, admitted)
        with admitted:
            return self._start(request, lease_owner, admitted)

    def _start(self, request: FailoverRequest, lease_owner: str | None,
               paced: Admitted | None) -> FailoverRequest | None:
        try:
            problem, hub = self._start_blocker(request)
        except (Throttled, TransientError) as exc:
            return self._start_later(request, exc)
        now = self.deps.clock.now()
        if request.batch_id and hub and same_region(hub.active_region, request.region_target):
            return self._skip(request, hub, now)
        owner = lease_owner or self.deps.start_owner
        own_lease = lease_owner is None
        with self.deps.uow() as uow:
            # A hub busy after our own postponed start: Azure took that POST after all.
            follow = (problem is not None and problem.reason is RefusalReason.HUB_NOT_READY
                      and _postponements(uow, request.id) > 0)
            if problem and not follow:
                failed = change(uow, request, lambda r: r.refuse_start(
                    now, problem.reason.value, problem.message))
                uow.commit()
                return self.refusals.counted(failed) if failed else None
            attempts = _attempts_before(uow, request.id)
            running = change(uow, request, lambda r: r.start(
                now, now + self.deps.poll_interval, attempts_before=attempts, following_hub=follow))
            if running is None:
                return uow.requests.get(request.id)
            uow.leases.take_lease(running.id, owner, now + self.deps.lease_ttl)
            self.verifying.begin(uow, running, now)
            uow.commit()
        if follow:
            self._release_start_lease(running.id, owner, own_lease, now)
            return running  # observe() follows the hub; no second POST
        if own_lease:  # a poller's claimed lease is already kept by its heartbeat
            self.deps.lease_keeper.keep(running.id, owner)
        if paced is not None:  # right before the POST, so that the POSTs are spaced
            self._wait_turn(paced)
        with self.memory.lock:
            self.memory.posting.add(running.id)
        try:
            handle = self.deps.gateway.start_failover(running.hub, running.region_target)
        except (Throttled, TransientError) as exc:
            # Azure did not take it (the gateway re-reads the hub before saying so).
            return self._start_later(running, exc, owner if own_lease else None)
        except GatewayError as exc:
            self._release_start_lease(running.id, owner, own_lease, self.deps.clock.now())
            if exc.code == OUTCOME_UNKNOWN or isinstance(exc, OperationConflict):
                # Azure may be running it (an earlier answer was lost, or Azure says an
                # operation is already under way): stay running without a handle; observe()
                # then decides from the hub's own state, and nothing is POSTed again.
                log.warning("failover of %s: %s; following the hub", running.id, exc.code)
                return running
            return self.finish_failed(running, exc.code or type(exc).__name__, exc.message)
        finally:
            if own_lease:
                self.deps.lease_keeper.drop(running.id, owner)
            with self.memory.lock:
                self.memory.posting.discard(running.id)
        return self.store_handle(running, handle, owner if own_lease else None)

    def save_unsaved_handles(self) -> int:
        """Store the handles of POSTs Azure accepted while the database was down; each round
        of the poller calls this. Returns how many are still waiting."""
        with self.memory.lock:
            waiting = dict(self.memory.unsaved)
        try:
            for request_id, handle in waiting.items():
                with self.deps.uow() as uow:
                    request = uow.requests.get(request_id)
                if request is not None:
                    self.store_handle(request, handle, None)
        except StoreUnavailable:
            log.warning("the database is still unavailable; %d handles wait", len(waiting))
        with self.memory.lock:
            return len(self.memory.unsaved)

    def _start_blocker(self, request: FailoverRequest) -> tuple[Refusal | None,
                                                                HubState | None]:
        """The hub must still be where it was when the request was approved.

        Raises Throttled/TransientError: Azure may well answer later.
        """
        try:
            hub = self.deps.gateway.get_state(request.hub, with_device_count=False)
        except (Throttled, TransientError):
            raise
        except GatewayError as exc:
            return azure_refusal(exc), None
        if not same_region(hub.active_region, request.region_before):
            return Refusal(RefusalReason.HUB_CHANGED, f"The hub is now active in "
                           f"{hub.active_display}; nothing was started."), hub
        return check_direction(request.kind, hub) or check_ready(hub), hub

    def _come_back(self, request: FailoverRequest, at: datetime) -> FailoverRequest:
        """A batch's hub whose turn is not near: the poller looks at it again then."""
        with self.deps.uow() as uow:
            uow.leases.schedule_poll(request.id, at)
            uow.commit()
            return uow.requests.get(request.id) or request

    def _wait_turn(self, paced: Admitted) -> None:
        """Wait for this start's turn: one interval after the previous POST (any replica's)."""
        at = paced.turn(self.deps.clock.now())
        now = self.deps.clock.now()  # after the claim: its round trip is part of the wait
        if at > now:
            self.deps.clock.sleep((at - now).total_seconds())

    def _claim_turn(self, interval: timedelta, now: datetime) -> datetime:
        """The deployment's next turn, from the database (``StartPace``). Unreachable, the
        POST still goes (its request is running already), on this process's own pace."""
        try:
            with self.deps.uow() as uow:
                at = uow.pace.claim_next(interval, lambda: max(now, self.deps.clock.now()))
                uow.commit()
                return at
        except StoreUnavailable:
            log.warning("the start pace is in the database, which is unavailable; "
                        "pacing this process's starts only")
            return self.pacer.claim_here(interval, now)

    def _skip(self, request: FailoverRequest, hub: HubState,
              now: datetime) -> FailoverRequest | None:
        """A batch's hub already where it was to go (moved meanwhile): nothing to send."""
        why = f"already active in {hub.active_display} when its turn came; nothing was sent"
        with self.deps.uow() as uow:
            skipped = change(uow, request, lambda r: r.skip(now, why, hub.active_region))
            uow.commit()
        return self.refusals.counted(skipped) if skipped else None

    def _start_later(self, request: FailoverRequest, exc: GatewayError,
                     own_lease: str | None = None) -> FailoverRequest:
        """Azure was busy or unreachable and nothing started: leave the request approved and
        try again after an exponential, jittered back-off (at least Azure's Retry-After),
        unless it has waited as long as a request may after its approval."""
        now = self.deps.clock.now()
        # From its first attempt: a batch's hub may have waited its turn long after approval.
        with self.deps.uow() as uow:
            first = _first_attempt(uow, request.id)
        deadline = max(request.decided_at or request.created_at, first or now) \
            + self.deps.request_ttl
        if now >= deadline:
            if own_lease:
                self._release_start_lease(request.id, own_lease, True, now)
            waited = humanize(self.deps.request_ttl)
            return self.finish_failed(request, exc.code or type(exc).__name__,
                                      f"Azure could not take the request for {waited} after "
                                       f"the approval: {exc.message}")
        with self.deps.uow() as uow:
            failures = _postponements(uow, request.id) + 1
            delay = backoff_delay(failures, self.deps.poll_interval, self.deps.max_backoff,
                                  exc.retry_after, self.deps.rng.random())
            retry_at = min(now + delay, deadline)  # give up on time, not a back-off late
            again = change(uow, request, lambda r: r.postpone(
                now, retry_at, code=exc.code, error=exc.message, failures=failures))
            if own_lease:
                uow.leases.release_lease(request.id, own_lease, retry_at)
            uow.commit()
        log.warning("start of %s postponed %.1fs (failure %d): %s", request.id,
                    (retry_at - now).total_seconds(), failures, exc.code)
        return again or request

    def store_handle(self, running: FailoverRequest, handle: str,
                     own_lease: str | None) -> FailoverRequest:
        """Record Azure's handle. Should the database fail now, the POST has still gone out:
        the handle stays in memory (observe() and the poller's rounds store it later) and the
        request stays running, never reported as not started."""
        now = self.deps.clock.now()
        try:
            with self.deps.uow() as uow:
                stored = change(uow, running, lambda r: r.record_handle(handle))
                if own_lease:
                    uow.leases.release_lease(running.id, own_lease, now + self.deps.poll_interval)
                uow.commit()
        except StoreUnavailable:
            log.error("Azure accepted the failover of %s but its handle could not be stored; "
                      "keeping it to store later", running.id)
            with self.memory.lock:
                self.memory.unsaved[running.id] = handle
            return running.evolve(operation_handle=handle)
        with self.memory.lock:
            self.memory.unsaved.pop(running.id, None)
        return stored or running

    def _release_start_lease(self, request_id: str, owner: str, own: bool,
                             now: datetime) -> None:
        """Hand back a start's own lease, so that a poller looks at the request soon."""
        if not own:
            return
        with self.deps.uow() as uow:
            uow.leases.release_lease(request_id, owner, now + self.deps.poll_interval)
            uow.commit()

    def finish_failed(self, request: FailoverRequest, code: str,
                      message: str) -> FailoverRequest:
        with self.deps.uow() as uow:
            now = self.deps.clock.now()
            failed = change(uow, request, lambda r: r.fail(now, code, message))
            if failed is None:
                return uow.requests.get(request.id) or request
            self.verifying.after_end(uow, failed)
            uow.commit()
        return self.refusals.counted(failed)


def _postponements(uow: UnitOfWork, request_id: str) -> int:
    """How often Azure could not take this request's start so far (the back-off's count)."""
    events = uow.events.search(AuditQuery(request_id=request_id,
                                          actions=frozenset({AuditAction.PROGRESS}), limit=500))
    return sum(1 for e in events if "start_postponed" in e.detail)


def _first_attempt(uow: UnitOfWork, request_id: str) -> datetime | None:
    """When this request's start was first tried (a POST, or Azure busy before one)."""
    events = uow.events.search(AuditQuery(request_id=request_id, actions=frozenset({
        AuditAction.STARTED, AuditAction.RETRY, AuditAction.PROGRESS}), limit=500))
    tries = [e.at for e in events if e.action is not AuditAction.PROGRESS
             or "start_postponed" in e.detail]
    return min(tries) if tries else None


def _attempts_before(uow: UnitOfWork, request_id: str) -> int:
    """POSTs already audited for this request (``started`` then ``retry``)."""
    events = uow.events.search(AuditQuery(
        request_id=request_id, actions=frozenset({AuditAction.STARTED, AuditAction.RETRY}),
        limit=500))
    return len(events)
