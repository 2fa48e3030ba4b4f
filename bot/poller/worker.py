"""The progress poller: leases due operations, polls each once on a bounded pool, reports.

One ``run_once()`` is one round: expire stale requests and batches, renew the leases we keep,
claim due requests, poll them on the thread pool (never a thread per operation), schedule the
next poll, announce what changed, send what Slack's limits allow and keep batches' boards.
What must survive a crash is in the store: the operation handle (nothing is POSTed twice), the
lease (two replicas never poll one operation), ``notified_version`` (a completion is
announced once) and the milestone record in the audit log.

A lease is kept, and renewed, while a milestone or completion message of its request waits
behind the rate limit (only the holder may announce it). While a request is polled, or its
POST waits for Azure, a heartbeat thread (``heartbeat.py``) renews its lease, so leases can be
short: if the process dies, another replica takes the request over within one lease TTL.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.request import FailoverRequest, RequestStatus
from bot.notifications import Notifier, ProgressUpdate
from bot.poller.announce import record_sent, sweep_unnotified
from bot.poller.backoff import PollSchedule
from bot.poller.boards import BoardKeeper
from bot.poller.heartbeat import LeaseHeartbeat, process_owner_id
from bot.poller.milestones import due_milestone
from bot.poller.ratelimit import MessageKind, RateLimitedNotifier
from bot.poller.rounds import Held, Round
from bot.poller.watch import Polled, Watch
from bot.service import FailoverService, Observation
from bot.service.boards import BoardNotifier
from bot.store.base import StoreUnavailable, UnitOfWorkFactory
from bot.telemetry import Metrics

log = logging.getLogger(__name__)

# How often run_forever looks while messages wait for Slack's per-second budget.
BACKLOG_TICK = timedelta(seconds=1)
MAX_IDLE_TICK = timedelta(seconds=5)


class Poller:
    def __init__(self, service: FailoverService, uow_factory: UnitOfWorkFactory,
                 notifier: Notifier, clock: Clock, *, owner_id: str | None = None,
                 poll_interval: timedelta = timedelta(seconds=30),
                 lease_ttl: timedelta = timedelta(seconds=15), max_workers: int = 8,
                 batch_size: int = 100, rng: random.Random | None = None,
                 max_backoff: timedelta = timedelta(minutes=5),
                 metrics: Metrics | None = None, boards: BoardNotifier | None = None) -> None:
        self._metrics = metrics
        self.owner_id = owner_id or process_owner_id()
        self._deciding, self._starts = service.deciding, service.starts
        self._batches = service.batches
        self._observations = service.observations
        self.heartbeat = LeaseHeartbeat(uow_factory, clock, lease_ttl)
        # The service's starts (also those of Slack's approve button) lease their row for as
        # long as their POST may be in flight; this heartbeat keeps those leases alive too.
        service.use_leases(self.heartbeat, f"{self.owner_id}/start", lease_ttl)
        self._uow = uow_factory
        self._clock = clock
        self._outbox = (notifier if isinstance(notifier, RateLimitedNotifier)
                        else RateLimitedNotifier(notifier, clock))
        self._schedule = PollSchedule(poll_interval, max_backoff)
        self._lease_ttl = lease_ttl
        self._batch_size = batch_size
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="poller")
        self._lock = threading.Lock()  # guards _due
        self._watch = Watch(service, uow_factory, clock, self.owner_id, lease_ttl, metrics)
        # A batch's hubs are shown on its board, not announced one by one.
        self.boards = (BoardKeeper(service.boards, boards, self._outbox, clock, self.owner_id)
                       if boards is not None else None)
        self._failures: dict[str, int] = {}
        self._held: dict[str, Held] = {}  # leases kept while messages wait for Slack
        self._last_sweep: datetime | None = None
        self._last_reap: datetime | None = None
        self._due: list[datetime] = []  # next polls this replica scheduled (a heap)

    # ---- rounds --------------------------------------------------------------------------

    def run_once(self) -> Round:
        now = self._clock.now()
        expired = self._deciding.expire_due()
        for request in expired:
            if not request.batch_id:
                self._outbox.request_changed(request)
        self._batches.expire_due()
        self._renew_held()
        self._reap_dead_owners(now)
        self._starts.save_unsaved_handles()
        with self._uow() as uow:
            claimed = uow.requests.claim_due(self.owner_id, now, self._lease_ttl,
                                             self._batch_size)
            uow.commit()
        for request in claimed:  # renewed while polled, however long Azure takes
            self.heartbeat.keep(request.id, self.owner_id)
        for polled in self._pool.map(self._watch.poll, claimed):
            self._settle(polled)
        # Changes made elsewhere (approvals, starts) need only be seen once a poll interval.
        last = self._last_sweep
        if last is None or now - last >= self._schedule.poll_interval:
            sweep_unnotified(self._uow, self._outbox, now, self._batch_size, self._metrics)
            self._last_sweep = now
        sent = self._deliver()
        if self.boards is not None:
            self.boards.keep()
        return Round(len(expired), len(claimed), sent)

    def run_forever(self, stop: threading.Event) -> None:
        """Run rounds until ``stop`` is set; the only wait is on ``stop`` itself."""
        log.info("poller %s started", self.owner_id)
        self.heartbeat.start()
        while not stop.is_set():
            full = False
            try:
                full = self.run_once().polled >= self._batch_size
            except Exception:
                log.exception("poller round failed; trying again")
            # A full batch means more are due now: go on at once.
            stop.wait(0 if full else self.next_wait().total_seconds())
        self.close()

    def next_wait(self) -> timedelta:
        """Until the next poll we scheduled is due (so Azure's end is seen on time), at most
        an idle tick (work may arrive from other replicas and listeners)."""
        idle = BACKLOG_TICK if self._outbox.backlog() else min(self._schedule.poll_interval / 4,
                                                                MAX_IDLE_TICK)
        now = self._clock.now()
        with self._lock:
            while self._due and self._due[0] <= now:
                heapq.heappop(self._due)
            soonest = self._due[0] - now if self._due else idle
        try:  # starts scheduled elsewhere (a batch's approval paces them) wake us too
            with self._uow() as uow:
                due = uow.requests.next_due(now)
        except StoreUnavailable:  # the round itself reports it
            due = None
        if due is not None:
            soonest = min(soonest, due - now)
        return min(idle, soonest)

    def close(self) -> None:
        """Stop the workers and hand our leases back so another replica takes over at once."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.heartbeat.stop()
        held, self._held = self._held, {}
        try:
            with self._uow() as uow:
                for request_id, kept in held.items():
                    uow.requests.release_lease(request_id, self.owner_id, kept.next_poll_at)
                uow.commit()
        except Exception:
            log.warning("could not release %d leases; they expire on their own", len(held))

    # ---- after the poll (on the round's thread) ------------------------------------------

    def _settle(self, polled: Polled) -> None:
        request_id = polled.request.id
        if polled.lost:
            self._held.pop(request_id, None)
            self.heartbeat.drop(request_id, self.owner_id)
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
            self._outbox.completed(observation.report or self._observations.report(request))
        elif not request.status.ran:
            self._outbox.request_changed(request)
        self._keep_or_release(request.id, self._clock.now() + self._schedule.poll_interval)

    def _failure_delay(self, request_id: str, retry_after: float | None) -> timedelta:
        failures = self._failures.get(request_id, 0) + 1
        self._failures[request_id] = failures
        return self._schedule.after_failure(failures, retry_after, self._rng)

    def _keep_or_release(self, request_id: str, next_poll_at: datetime) -> None:
        """Keep the lease while a milestone or completion waits to be sent; else release it."""
        with self._lock:
            heapq.heappush(self._due, next_poll_at)
        keep = bool(self._outbox.announcements_for(request_id))
        lease_until = self._clock.now() + self._lease_ttl
        with self._uow() as uow:
            if keep:
                keep = uow.requests.renew_lease(request_id, self.owner_id, lease_until)
                if keep:
                    uow.requests.schedule_poll(request_id, next_poll_at)
            else:
                uow.requests.release_lease(request_id, self.owner_id, next_poll_at)
            uow.commit()
        if keep:
            self._held[request_id] = Held(next_poll_at, lease_until)
        else:
            self._held.pop(request_id, None)
            self.heartbeat.drop(request_id, self.owner_id)

    def _completion_queued(self, request_id: str) -> bool:
        return any(m.kind is MessageKind.COMPLETED
                   for m in self._outbox.announcements_for(request_id))

    # ---- leases, the outbox sweep and delivery bookkeeping -------------------------------

    def _renew_held(self) -> None:
        """Renew the leases we keep once half their time has passed (not every round)."""
        now = self._clock.now()
        due = [rid for rid, held in self._held.items()
               if held.lease_until - now <= self._lease_ttl / 2]
        if not due:
            return
        until = now + self._lease_ttl
        with self._uow() as uow:
            lost = [rid for rid in due
                    if not uow.requests.renew_lease(rid, self.owner_id, until)]
            uow.commit()
        for request_id in due:
            held = self._held.pop(request_id)
            if request_id in lost:
                log.warning("lease on %s was taken over; leaving it to its new owner",
                            request_id)
                self._outbox.forget(request_id)
            else:
                self._held[request_id] = Held(held.next_poll_at, until)
        for request_id in lost:
            self.heartbeat.drop(request_id, self.owner_id)

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
            for message in sent:
                request_id = message.request.id
                if request_id in self._held and not self._outbox.announcements_for(request_id):
                    kept = self._held.pop(request_id)
                    uow.requests.release_lease(request_id, self.owner_id, kept.next_poll_at)
                    self.heartbeat.drop(request_id, self.owner_id)
            uow.commit()
        return len(sent)
