"""Durable hand-over of lazy jobs from the front to its work process (``bot.work_process``).

The front's ack path only appends the job to an in-memory :class:`Outbox` (no I/O before
the HTTP response); the :class:`JobWriter` thread stores what accumulated in one insert and
then wakes the work process through its queue. The work process claims each job it is sent
(a compare-and-set, so a sweep and a wake-up never both run one), and its :class:`JobKeeper`
thread renews its leases, deletes what is done, and claims jobs nobody took: those released
when a previous work process died, those a dead bot left behind, those whose wake-up was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.slack.lazy import LazyJob
from bot.store.jobs import JobStore, StoredJob
from bot.telemetry.context import new_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a job that killed this many work processes is dropped, not run again
SWEEP_EVERY_S = 1.0
UNCLAIMED_FOR = timedelta(seconds=2)  # a wake-up normally claims a job within milliseconds
# How long the front's writer yields to its acks, and how often it looks (each look takes
# the GIL from an ack: every 2 ms showed in the front's profile). The front counts as busy
# while it answered within the last look: a burst is written as one batch of at most 50 ms
# of acks (a transaction costs about 110 µs of CPU for one job, 24 µs a job in a batch of 10,
# 16 µs in a batch of 50), and a lone ack is stored within 10 ms.
HOLD_MAX_S, HOLD_POLL_S = 0.05, 0.01


def to_stored(job: LazyJob, job_id: str) -> StoredJob:
    return StoredJob(id=job_id, function=job.function, mode=job.mode, body=job.body,
                     headers=job.headers, request_id=job.request_id,
                     created_at=datetime.fromtimestamp(job.acked_at, UTC))


def from_stored(stored: StoredJob) -> LazyJob:
    return LazyJob(function=stored.function, body=stored.body, headers=stored.headers,
                   mode=stored.mode, request_id=stored.request_id, id=stored.id,
                   acked_at=stored.created_at.timestamp(), attempts=stored.attempts)


class Outbox:
    """Jobs acked but not stored yet; ``put`` is all the ack path does."""

    def __init__(self) -> None:
        self._jobs: list[LazyJob] = []
        self._ready = threading.Condition()
        self._closed = False

    def put(self, job: LazyJob) -> None:
        with self._ready:
            self._jobs.append(job)
            self._ready.notify()

    def take(self) -> list[LazyJob] | None:
        """Everything waiting (at least one job); ``None`` once closed and empty."""
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            jobs, self._jobs = self._jobs, []
            return jobs or None

    def take_nowait(self) -> list[LazyJob]:
        with self._ready:
            jobs, self._jobs = self._jobs, []
            return jobs

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class JobWriter:
    """In the front: store each batch from the outbox, then hand it to ``deliver``.

    Should the database be unavailable, the jobs are delivered anyway, unstored: the answer
    matters more than its durability (and most answers then say the database is down).
    """

    def __init__(self, outbox: Outbox, store: JobStore,
                 deliver: Callable[[list[LazyJob]], None],
                 answered_within: Callable[[float], bool] = lambda seconds: False) -> None:
        """``answered_within(seconds)``: whether the front answered Slack that recently
        (``bot.in_flight.InFlight.answered_within``)."""
        self._outbox = outbox
        self._answered_within = answered_within
        self._store = store
        self._deliver = deliver
        self._thread = threading.Thread(target=self._run, name="job-writer", daemon=True)
        self._failing = False

    def start(self) -> JobWriter:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while (jobs := self._outbox.take()) is not None:
            jobs += self._more_while_busy()
            try:
                self._deliver(self._stored(jobs))
            except Exception:
                log.exception("could not hand %d lazy jobs to the work process", len(jobs))

    def _more_while_busy(self) -> list[LazyJob]:
        """Acks first: while the front is answering, wait (boundedly) and write one batch
        for the whole burst, rather than taking the GIL for an insert after every few acks."""
        deadline = time.monotonic() + HOLD_MAX_S
        while self._answered_within(HOLD_POLL_S) and time.monotonic() < deadline:
            time.sleep(HOLD_POLL_S)
        return self._outbox.take_nowait()

    def _stored(self, jobs: list[LazyJob]) -> list[LazyJob]:
        with_ids = [replace(job, id=new_id()) for job in jobs]
        try:
            self._store.add([to_stored(job, str(job.id)) for job in with_ids])
        except Exception as exc:  # the database is down, or its schema is old
            if not self._failing:
                log.warning("lazy jobs are not stored (%s); they run, but would not survive "
                            "a crash of the work process", _first_line(exc))
            self._failing = True
            return jobs
        if self._failing:
            log.info("lazy jobs are stored again")
        self._failing = False
        return with_ids


class JobKeeper:
    """In the work process: claims, lease renewals, completions and the sweep for jobs
    nobody runs, all against the database from one thread (the ``job-keeper``)."""

    def __init__(self, store: JobStore, owner: str, lease: timedelta,
                 run: Callable[[LazyJob], None]) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._run = run
        self._wake = threading.Condition()
        self._finished: list[str] = []
        # Ids this process runs or ran and has not deleted yet: should a sweep claim one of
        # them again (a lapsed lease, a failed delete), it must not run it twice.
        self._held: set[str] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._keep, name="job-keeper", daemon=True)

    def start(self) -> JobKeeper:
        self._thread.start()
        return self

    def claim(self, jobs: Sequence[LazyJob]) -> list[LazyJob]:
        """The jobs of a wake-up that are ours to run (unstored ones always are)."""
        ids = [job.id for job in jobs if job.id is not None]
        try:
            ours = self._store.claim(self._owner, ids, self._lease) if ids else set()
        except Exception as exc:  # the answers matter more than their bookkeeping
            log.warning("could not claim %d lazy jobs (%s); running them unclaimed",
                        len(ids), _first_line(exc))
            ours = set(ids)
        with self._wake:
            self._held.update(ours)
        return [job for job in jobs if job.id is None or job.id in ours]

    def finished(self, job: LazyJob) -> None:
        if job.id is None:
            return
        with self._wake:
            self._finished.append(job.id)
            self._wake.notify()

    def stop(self) -> None:
        """Flush what is done (a clean stop leaves nothing to re-run)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(10)

    def _keep(self) -> None:
        renew_every = self._lease.total_seconds() / 3
        renewed = swept = -float("inf")
        first, failing = True, False
        while True:
            with self._wake:
                finished, self._finished = self._finished, []
                stopped = self._stopped
            try:
                self._flush(finished)
                if stopped:
                    return
                now = time.monotonic()
                if now - renewed >= renew_every:
                    self._store.renew(self._owner, self._lease)
                    renewed = now
                if now - swept >= SWEEP_EVERY_S:
                    # The first sweep takes every unclaimed job: its wake-up went to a dead
                    # process, or the whole bot was down.
                    self._sweep(timedelta(0) if first else UNCLAIMED_FOR)
                    swept, first = now, False
                if failing:
                    log.info("lazy job bookkeeping works again")
                failing = False
            except Exception as exc:  # the database, mostly: try again next round
                if not failing:
                    log.warning("lazy job bookkeeping failed: %s", _first_line(exc))
                failing = True
                if stopped:
                    return
            with self._wake:
                if not self._finished and not self._stopped:
                    self._wake.wait(SWEEP_EVERY_S)

    def _flush(self, finished: list[str]) -> None:
        try:
            self._store.done(finished)
        except Exception:
            with self._wake:
                self._finished[:0] = finished  # again next round
            raise
        with self._wake:
            self._held.difference_update(finished)

    def _sweep(self, unclaimed_for: timedelta) -> None:
        claimed = self._store.claim_due(self._owner, self._lease, unclaimed_for=unclaimed_for)
        if claimed:
            log.warning("running %d lazy jobs again or late (the oldest was acked %.0f s ago)",
                        len(claimed), time.time() - claimed[0].created_at.timestamp())
        for stored in claimed:
            job = from_stored(stored)
            with self._wake:
                held = job.id in self._held
                self._held.add(str(job.id))
            if held:
                continue
            if stored.attempts > MAX_ATTEMPTS:
                log.error("lazy %s was claimed %d times without finishing; dropped",
                          job.function, stored.attempts - 1,
                          extra={"request_id": job.request_id})
                self.finished(job)
                continue
            self._run(job)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
