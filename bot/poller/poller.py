"""The progress poller: leases due operations, polls each once on a bounded pool, reports.

One round: expire stale requests and batches, renew kept leases, claim due requests, hand
them to the pool (never a thread per operation), settle the polls that finished, send what
Slack's limits allow, keep batches' boards and what follows a move (``after_move.py``).
``run_forever`` does not wait for a round's slowest poll: the next round claims what came due
meanwhile (a thousand operations in one region must each be seen within a poll interval of
Azure finishing). ``run_once()`` waits for every poll it started.
What must survive a crash is in the store: the operation handle (nothing is POSTed twice), the
lease (two replicas never poll one operation), ``notified_version`` (a completion is
announced once) and the milestone record in the audit log. A lease is renewed while a
message of its request waits behind the rate limit (only the holder may announce it), and by
a heartbeat thread while it is polled or its POST waits for Azure, so leases can be short.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.read_budget import ReadBudget
from bot.domain.request import FailoverRequest, RequestStatus
from bot.notifications import AfterMoveNotifier, DrillNotifier, Notifier, ProgressUpdate
from bot.poller.after_move import AfterMoveKeeper
from bot.poller.announce import record_sent, sweep_unnotified
from bot.poller.board_keeper import BoardKeeper
from bot.poller.drill_keeper import DrillKeeper
from bot.poller.heartbeat import LeaseHeartbeat, process_owner_id
from bot.poller.kept import KeptLeases
from bot.poller.milestones import due_milestone
from bot.poller.poll_schedule import PollSchedule
from bot.poller.polls_in_flight import PollsInFlight
from bot.poller.ratelimit import MessageKind, RateLimitedNotifier
from bot.poller.rounds import Round
from bot.poller.watch import Polled, Watch
from bot.service import FailoverService, Observation
from bot.service.boards import BoardNotifier
from bot.store.base import StoreUnavailable, UnitOfWorkFactory
from bot.telemetry import Metrics
from bot.telemetry.repeats import RepeatedFailure

log = logging.getLogger(__name__)

# How often run_forever looks while messages wait for Slack's per-second budget.
BACKLOG_TICK = timedelta(seconds=1)
MAX_IDLE_TICK = timedelta(seconds=5)
# At the latest, while polls are in flight, a round looks at what came due meanwhile.
IN_FLIGHT_TICK = timedelta(seconds=1)


class Poller:
    def __init__(self, service: FailoverService, uow_factory: UnitOfWorkFactory,
                 notifier: Notifier, clock: Clock, *, owner_id: str | None = None,
                 poll_interval: timedelta = timedelta(seconds=30),
                 lease_ttl: timedelta = timedelta(seconds=15), max_workers: int = 8,
                 batch_size: int = 100, rng: random.Random | None = None,
                 max_backoff: timedelta = timedelta(minutes=5),
                 metrics: Metrics | None = None, boards: BoardNotifier | None = None,
                 after_move: AfterMoveNotifier | None = None,
                 reads_per_second: float = 10.0, drills: DrillNotifier | None = None) -> None:
        self._metrics = metrics
        self.owner_id = owner_id or process_owner_id()
        self._deciding, self._starting = service.deciding, service.starting
        self._batch_deciding, self._observing = service.batch_deciding, service.observing
        self.heartbeat = LeaseHeartbeat(uow_factory, clock, lease_ttl)
        # The service's starts (also those of Slack's approve button) lease their row for as
        # long as their POST may be in flight; this heartbeat keeps those leases alive too.
        service.use_leases(self.heartbeat, f"{self.owner_id}/start", lease_ttl)
        self._uow, self._clock = uow_factory, clock
        self._outbox = (notifier if isinstance(notifier, RateLimitedNotifier)
                        else RateLimitedNotifier(notifier, clock))
        self._schedule = PollSchedule(poll_interval, max_backoff)
        self._lease_ttl, self._batch_size = lease_ttl, batch_size
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="poller")
        self._lock = threading.Lock()  # guards _due
        self._watch = Watch(service, uow_factory, clock, self.owner_id, lease_ttl, metrics)
        self._in_flight = PollsInFlight(self._pool, self._watch.poll)
        # A batch's hubs are shown on its board, not announced one by one.
        self.boards = (BoardKeeper(service.boards, boards, self._outbox, clock, self.owner_id)
                       if boards is not None else None)
        self._failures: dict[str, int] = {}
        self._kept = KeptLeases(uow_factory, clock, self.owner_id, lease_ttl, self.heartbeat,
                                self._outbox)
        # ARM's read budget: polls spend it, verification's looks wait for room in it.
        self.reads = ReadBudget(reads_per_second, max(2.0, reads_per_second * 5), clock.now())
        self.after_move = AfterMoveKeeper(service, uow_factory, after_move, clock, self.owner_id,
                                          self._pool, self.reads, batch_size=batch_size)
        self.drills = DrillKeeper(service, uow_factory, drills, clock, self.owner_id,
                                  announce=self._outbox.request_changed)
        self._last_sweep: datetime | None = None  # when unannounced changes were swept
        self._last_reap: datetime | None = None  # … and dead processes' leases reaped
        self._due: list[datetime] = []  # next polls this replica scheduled (a heap)

    # ---- rounds --------------------------------------------------------------------------

    def run_once(self) -> Round:
        """One round, waiting for every poll it started (tests, and a one-off pass)."""
        return self._round(wait_all=True)

    def run_forever(self, stop: threading.Event) -> None:
        """Run rounds until ``stop`` is set, waiting on ``stop`` itself or for a poll."""
        log.info("poller %s started", self.owner_id)
        self.heartbeat.start()
        failures = RepeatedFailure(log, "a poller round", self._clock, expected=(StoreUnavailable,))
        while not stop.is_set():
            full = False
            try:
                full = self._round(wait_all=False).polled >= self._batch_size
                failures.succeeded()
            except Exception as exc:
                failures.failed(exc)
            if full:  # more are due now: go on at once
                continue
            if self._in_flight:  # settle each poll soon after it finishes
                self._in_flight.wait_any(min(self.next_wait(), IN_FLIGHT_TICK).total_seconds())
            elif self.after_move.busy():  # looks and restarts in flight
                stop.wait(min(self.next_wait(), IN_FLIGHT_TICK).total_seconds())
            else:
                stop.wait(self.next_wait().total_seconds())
        self.close()

    def _round(self, *, wait_all: bool) -> Round:
        now = self._clock.now()
        expired = self._deciding.expire_due()
        for request in expired:
            if not request.batch_id:
                self._outbox.request_changed(request)
        self._batch_deciding.expire_due()
        self._kept.renew()
        self._reap_dead_owners(now)
        self._starting.save_unsaved_handles()
        self._settle_finished()
        room = self._batch_size - len(self._in_flight)
        claimed = []
        if room > 0:
            with self._uow() as uow:
                claimed = uow.leases.claim_due(self.owner_id, now, self._lease_ttl, room,
                                               skip=self._in_flight.ids())
                uow.commit()
        for request in claimed:  # renewed while polled, however long Azure takes
            self.heartbeat.keep(request.id, self.owner_id)
        self.reads.spend(len(claimed), now)
        self._in_flight.submit(claimed)
        if wait_all:
            self._settle_finished(wait_all=True)
        # Changes made elsewhere (approvals, starts) need only be seen once a poll interval.
        last = self._last_sweep
        if last is None or now - last >= self._schedule.poll_interval:
            sweep_unnotified(self._uow, self._outbox, now, self._batch_size, self._metrics)
            self._last_sweep = now
        sent = self._deliver()
        if self.boards is not None:
            self.boards.keep()
        self.after_move.keep(wait_all=wait_all)
        self.drills.keep()
        return Round(len(expired), len(claimed), sent)

    def next_wait(self) -> timedelta:
        """Until our next poll is due, at most an idle tick (work comes from elsewhere too)."""
        idle = BACKLOG_TICK if self._outbox.backlog() else min(self._schedule.poll_interval / 4,
                                                                MAX_IDLE_TICK)
        now = self._clock.now()
        with self._lock:
            while self._due and self._due[0] <= now:
                heapq.heappop(self._due)
            soonest = self._due[0] - now if self._due else idle
        try:  # starts scheduled elsewhere (a batch's approval paces them) wake us too
            with self._uow() as uow:
                due = uow.leases.next_due(now)
                look = self.after_move.next_due(uow, now)  # and verification's looks
        except StoreUnavailable:  # the round itself reports it
            due = look = None
        for then in (due, look):
            if then is not None:
                soonest = min(soonest, then - now)
        return min(idle, soonest)

    def close(self) -> None:
        """Stop the workers and hand our leases back so another replica takes over at once."""
        not_polled = self._in_flight.cancel_waiting()
        self.after_move.close()
        for polled in self._in_flight.finished(wait_all=True):
            try:
                self._settle(polled)
            except Exception:
                log.exception("could not settle the poll of %s", polled.request.id)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.heartbeat.stop()
        try:
            with self._uow() as uow:
                self._kept.release_all(uow)
                for request in not_polled:  # due now: for whoever comes next
                    uow.leases.release_lease(request.id, self.owner_id, self._clock.now())
                uow.commit()
        except Exception:
            log.warning("could not hand our leases back; they expire on their own")

    # ---- after the poll (on the round's thread) ------------------------------------------

    def _settle_finished(self, *, wait_all: bool = False) -> None:
        for polled in self._in_flight.finished(wait_all=wait_all):
            self._settle(polled)

    def _settle(self, polled: Polled) -> None:
        request_id = polled.request.id
        if polled.lost:
            self._kept.lost(request_id)
            self._outbox.forget(request_id)
            return
        observation = polled.observation
        now = self._clock.now()
        if polled.failed or observation is None:
            self._keep_or_release(request_id, now + self._failure_delay(request_id, None))
            return
        request = observation.request
        if observation.finished:
            self._finish(observation)
            return
        if request.status is RequestStatus.APPROVED:
            # Azure could not take the start: the service chose when to try again (back-off).
            self._keep_or_release(request_id, request.next_poll_at or now + self._schedule
                                  .poll_interval)
            return
        handle_unanswered = (request.status is RequestStatus.RUNNING
                             and request.operation_handle and observation.poll is None)
        if handle_unanswered:
            delay = self._failure_delay(request_id, observation.retry_after)
        else:
            self._failures.pop(request_id, None)
            delay = (self._schedule.after_poll(observation.retry_after) if observation.poll
                     else self._schedule.poll_interval)
        # Progress ("Azure accepted", then running for…) only once Azure has answered: a
        # handle-less request whose POST may not have reached Azure is not yet running there.
        if (request.status is RequestStatus.RUNNING and not handle_unanswered
                and observation.poll is not None and not request.batch_id):
            self._report_progress(polled, request, now)
        # From when Azure was asked, not from now: a busy round must not stretch the interval.
        self._keep_or_release(request_id, (polled.polled_at or now) + delay)

    def _report_progress(self, polled: Polled, request: FailoverRequest, now: datetime) -> None:
        if request.started_at is None or polled.estimate is None:
            return
        elapsed = now - request.started_at
        queued = {m.milestone for m in self._outbox.announcements_for(request.id) if m.milestone}
        milestone = due_milestone(elapsed, polled.estimate, polled.announced | queued)
        self._outbox.progress(ProgressUpdate(request, elapsed, polled.estimate, milestone))

    def _finish(self, observation: Observation) -> None:
        request = observation.request
        self._failures.pop(request.id, None)
        self._watch.forget_estimate(request.id)
        if request.batch_id:
            pass  # its board shows the end (and a failure gets its own reply there)
        elif request.status.ran and not self._completion_queued(request.id):
            self._outbox.completed(observation.report or self._observing.report(request))
        elif not request.status.ran:
            self._outbox.request_changed(request)
        self._keep_or_release(request.id, self._clock.now() + self._schedule.poll_interval)

    def _failure_delay(self, request_id: str, retry_after: float | None) -> timedelta:
        failures = self._failures.get(request_id, 0) + 1
        self._failures[request_id] = failures
        return self._schedule.after_failure(failures, retry_after, self._rng)

    def _keep_or_release(self, request_id: str, next_poll_at: datetime) -> None:
        with self._lock:
            heapq.heappush(self._due, next_poll_at)
        self._kept.keep_or_release(request_id, next_poll_at)

    def _completion_queued(self, request_id: str) -> bool:
        return any(m.kind is MessageKind.COMPLETED
                   for m in self._outbox.announcements_for(request_id))

    # ---- dead owners and delivery bookkeeping --------------------------------------------

    def _reap_dead_owners(self, now: datetime) -> None:
        """On the first round and then once per heartbeat: leases of dead processes here."""
        last = self._last_reap
        if last is not None and now - last < self.heartbeat.interval:
            return
        self._last_reap = now
        self.heartbeat.reap(now)

    def _deliver(self) -> int:
        sent = self._outbox.flush()
        if not sent:
            return 0
        now = self._clock.now()
        with self._uow() as uow:
            for message in sent:
                record_sent(uow, message, now, self._watch)
            self._kept.release_sent(uow, [message.request.id for message in sent])
            uow.commit()
        return len(sent)
