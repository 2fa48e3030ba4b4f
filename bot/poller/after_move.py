"""After a move, on the poller's rounds: verification's looks and the consumers' restarts.

Looks run on the poller's own bounded pool, as many as the ARM read budget has room for
(:class:`~bot.domain.read_budget.ReadBudget`: no thread per hub, no read storm at a thousand
hubs); each holds a lease on its verification, so after a crash another replica takes it
over when the lease lapses. Restarts run on a small pool of their own (a Stream Analytics
job takes minutes; polls must not wait behind it). What people are told — a verdict in the
request's thread, a consumer's restart — is sent from the round's thread, then recorded; a
batch's hubs are shown on its board instead.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.consumer_action import ConsumerAction
from bot.domain.read_budget import ReadBudget
from bot.domain.verification_state import Verification
from bot.notifications import AfterMoveNotifier
from bot.poller.heartbeat import owner_is_dead
from bot.service import FailoverService, Looked
from bot.service.verifying import READS_PER_LOOK
from bot.store.base import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

LOOK_LEASE = timedelta(seconds=60)  # two bounded reads, and the telling after them
SWEEP_EVERY = timedelta(seconds=30)  # lapsed actions, and ended ones never told


class AfterMoveKeeper:
    def __init__(self, service: FailoverService, uow_factory: UnitOfWorkFactory,
                 notifier: AfterMoveNotifier | None, clock: Clock, owner_id: str,
                 pool: Executor, budget: ReadBudget, *, consumer_workers: int = 2,
                 batch_size: int = 100) -> None:
        self._verifying, self._restarting = service.verifying, service.consumer_restarting
        self._uow, self._notifier, self._clock = uow_factory, notifier, clock
        self._owner, self._pool, self.budget = owner_id, pool, budget
        self._batch_size = batch_size
        self._workers = consumer_workers
        self._consumer_pool: ThreadPoolExecutor | None = None
        self._looks: dict[str, Future[Looked]] = {}
        self._acts: dict[tuple[str, str], Future[ConsumerAction]] = {}
        self._last_sweep: datetime | None = None
        self._owed: list[ConsumerAction] = []  # ended, told once their completion is out

    def keep(self, *, wait_all: bool = False) -> int:
        """One round's share; returns how many looks it started."""
        self._settle(wait_all=False)
        owed, self._owed = self._owed, []
        for action in owed:
            self._tell_action(action)
        started = self._start_looks()
        self._start_actions()
        self._sweep()
        if wait_all:
            self._settle(wait_all=True)
        return started

    def busy(self) -> bool:
        return bool(self._looks or self._acts)

    def next_due(self, uow: UnitOfWork, now: datetime) -> datetime | None:
        """When the soonest look may go (read in the caller's unit of work)."""
        if not self._verifying.on:
            return None
        due = uow.verifications.next_due(now)
        if due is not None and self.budget.available(now) < READS_PER_LOOK:
            due = max(due, now + timedelta(seconds=self.budget.seconds_until(READS_PER_LOOK,
                                                                               now)))
        return due

    def close(self) -> None:
        for future in self._looks.values():
            future.cancel()
        if self._consumer_pool is not None:
            self._consumer_pool.shutdown(wait=True, cancel_futures=True)
        self._settle(wait_all=True)

    # ---- verification ---------------------------------------------------------------------

    def _start_looks(self) -> int:
        now = self._clock.now()
        room = min(self._batch_size - len(self._looks),
                   self.budget.available(now) // READS_PER_LOOK)
        if room <= 0 or not self._verifying.on:
            return 0
        with self._uow() as uow:
            claimed = uow.verifications.claim_due(self._owner, now, LOOK_LEASE, room)
            uow.commit()
        started = 0
        for verification in claimed:
            if verification.request_id in self._looks:
                continue
            if verification.status.final:  # owed a telling only
                self._tell(verification)
                continue
            self.budget.spend(READS_PER_LOOK, now)
            self._looks[verification.request_id] = self._pool.submit(
                self._verifying.look, verification)
            started += 1
        return started

    def _settle(self, *, wait_all: bool) -> None:
        for request_id, future in list(self._looks.items()):
            if not (wait_all or future.done()):
                continue
            del self._looks[request_id]
            try:
                looked = future.result()
            except Exception:
                log.exception("a look at the metrics of %s failed", request_id)
                continue
            if looked.verification.status.verdict and not looked.verification.announced:
                self._tell(looked.verification)
            else:
                self._release(request_id)
        for key, acted in list(self._acts.items()):
            if wait_all or acted.done():
                del self._acts[key]
                try:
                    self._tell_action(acted.result())
                except Exception:
                    log.exception("acting on %s of %s failed", key[1], key[0])

    def _completion_out(self, request_id: str) -> bool:
        """A thread reads in time order: nothing after the move before its completion reply
        (which may wait behind Slack's rate limit, or on another replica)."""
        with self._uow() as uow:
            return uow.announcements.told_latest(request_id)

    def _tell(self, verification: Verification) -> None:
        try:
            if verification.batch_id is None and not self._completion_out(
                    verification.request_id):
                self._release(verification.request_id)  # told on a later round
                return
            report = (self._verifying.report(verification)
                      if verification.batch_id is None else None)
            if report is not None and self._notifier is not None:
                self._notifier.verdict(report)
            self._verifying.told(verification)
        except Exception:  # Slack or the store: told on a later round, once the lease lapses
            log.warning("the verdict of %s could not be told yet", verification.request_id)
            return
        self._release(verification.request_id)

    def _release(self, request_id: str) -> None:
        with self._uow() as uow:
            uow.verifications.release(request_id, self._owner)
            uow.commit()

    # ---- consumers ------------------------------------------------------------------------

    def _start_actions(self) -> None:
        room = self._workers - len(self._acts)
        if room <= 0 or not self._restarting.on:
            return
        for action in self._restarting.take(self._owner, room):
            if self._consumer_pool is None:
                self._consumer_pool = ThreadPoolExecutor(self._workers,
                                                         thread_name_prefix="consumers")
            key = (action.request_id, action.consumer.resource_id)
            self._acts[key] = self._consumer_pool.submit(self._restarting.act, action,
                                                         self._owner)

    def _sweep(self) -> None:
        now = self._clock.now()
        if self._last_sweep is not None and now - self._last_sweep < SWEEP_EVERY:
            return
        self._last_sweep = now
        if not self._restarting.on:
            return
        self._restarting.reap_lapsed(gone=owner_is_dead)
        for _, action in self._restarting.untold():
            mine = {(a.request_id, a.consumer.resource_id) for a in self._owed}
            key = (action.request_id, action.consumer.resource_id)
            if key not in self._acts and key not in mine:
                self._tell_action(action)

    def _tell_action(self, action: ConsumerAction) -> None:
        try:
            if action.batch_id is None and not self._completion_out(action.request_id):
                self._owed.append(action)  # after the completion reply, on a later round
                return
            if action.batch_id is None and self._notifier is not None:
                with self._uow() as uow:
                    request = uow.requests.get(action.request_id)
                if request is not None:
                    self._notifier.consumer_acted(request, action)
            self._restarting.told(action)
        except Exception:
            log.warning("what was done to %s could not be told yet", action.consumer.label)
