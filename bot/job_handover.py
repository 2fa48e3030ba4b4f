"""Durable hand-over of lazy jobs, the work process's half (the front's is
``bot.job_outbox``): it stores each batch the front sends in one insert
(:meth:`JobKeeper.take`) before it says so to the front, which keeps every job until then
and sends it again to the next work process should this one die. It claims each job it
stored (a compare-and-set, so a sweep and a wake-up never both run one), and its
:class:`JobKeeper` thread renews its leases, deletes what is done, and claims jobs nobody
took: those released when a previous work process died, those a dead bot left behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from bot.job_outbox import from_stored, to_stored
from bot.slack.lazy import LazyJob
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a job that killed this many work processes is dropped, not run again
SWEEP_EVERY_S = 1.0
UNCLAIMED_FOR = timedelta(seconds=2)  # a wake-up normally claims a job within milliseconds


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
        self._failing = False  # storing batches: said once when it fails, once when it works
        self._thread = threading.Thread(target=self._keep, name="job-keeper", daemon=True)

    def start(self) -> JobKeeper:
        self._thread.start()
        return self

    def take(self, jobs: Sequence[LazyJob]) -> list[LazyJob]:
        """Store a batch from the front, then claim it: the jobs that are ours to run.

        Should the database be unavailable, they run anyway, unstored: the answer matters
        more than its durability (and most answers then say the database is down). A job
        the front sent again (its first work process died before saying it was stored) is
        stored once."""
        try:
            self._store.add([to_stored(job, str(job.id)) for job in jobs if job.id is not None])
        except Exception as exc:  # the database is down, or its schema is old
            if not self._failing:
                log.warning("lazy jobs are not stored (%s); they run, but would not survive "
                            "a crash of the work process", _first_line(exc))
            self._failing = True
            return list(jobs)
        if self._failing:
            log.info("lazy jobs are stored again")
        self._failing = False
        return self.claim(jobs)

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
