"""The front's half of the lazy jobs' hand-over (the work process's is
``bot.job_handover``): the ack path only appends each job to an in-memory :class:`Outbox`
(no I/O before the HTTP response), and the :class:`JobSender` thread gives what accumulated
an id each and hands it to the work process as one batch (``bot.work_process``, which keeps
each job until the work process has stored it)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from bot.slack.lazy import LazyJob
from bot.store.job_rows import StoredJob
from bot.telemetry.context import new_id

log = logging.getLogger(__name__)

# How long the sender yields to the front's acks, and how often it looks (each look takes
# the GIL from an ack: every 2 ms showed in the front's profile). The front counts as busy
# while it answered within the last look: a burst is sent as one batch of at most 50 ms
# of acks (the work process stores a batch in one transaction: about 110 µs of CPU for one job,
# 24 µs a job in a batch of 10, 16 µs in a batch of 50), and a lone ack is sent within 10 ms.
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


class JobSender:
    """In the front: give each batch from the outbox its ids, then hand it to ``deliver``."""

    def __init__(self, outbox: Outbox, deliver: Callable[[list[LazyJob]], None],
                 answered_within: Callable[[float], bool] = lambda seconds: False) -> None:
        """``answered_within(seconds)``: whether the front answered Slack that recently
        (``bot.in_flight.InFlight.answered_within``)."""
        self._outbox = outbox
        self._answered_within = answered_within
        self._deliver = deliver
        self._thread = threading.Thread(target=self._run, name="job-sender", daemon=True)

    def start(self) -> JobSender:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while (jobs := self._outbox.take()) is not None:
            jobs += self._more_while_busy()
            try:
                self._deliver([replace(job, id=new_id()) for job in jobs])
            except Exception:
                log.exception("could not hand %d lazy jobs to the work process", len(jobs))

    def _more_while_busy(self) -> list[LazyJob]:
        """Acks first: while the front is answering, wait (boundedly) and send one batch
        for the whole burst, rather than taking the GIL after every few acks."""
        deadline = time.monotonic() + HOLD_MAX_S
        while self._answered_within(HOLD_POLL_S) and time.monotonic() < deadline:
            time.sleep(HOLD_POLL_S)
        return self._outbox.take_nowait()
