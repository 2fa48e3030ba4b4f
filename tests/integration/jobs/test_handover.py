"""The hand-over itself: the front's sender (``bot.job_outbox``) batches and delivers; the
work process's keeper (``bot.job_handover``) stores, claims, finishes, and picks up what a
dead work process left."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from bot import job_outbox
from bot.in_flight import InFlight, SharedPage
from bot.job_handover import JobKeeper
from bot.job_outbox import JobSender, Outbox
from bot.slack.lazy import LazyJob
from bot.store.jobs import JobStore
from tests.support import wait_until

LEASE = timedelta(seconds=30)
WAIT_S = 30.0  # an upper bound on a loaded machine, not a pause


wait_for = partial(wait_until, timeout=WAIT_S, step=0.02)


@pytest.fixture
def store(db_url: str) -> Iterator[JobStore]:
    jobs = JobStore(db_url)
    yield jobs
    jobs.close()


class Delivered:
    def __init__(self) -> None:
        self.jobs: list[LazyJob] = []
        self._lock = threading.Lock()

    def __call__(self, jobs: list[LazyJob]) -> None:
        with self._lock:
            self.jobs += jobs


def command(text: str) -> LazyJob:
    return LazyJob("answer", body=f"command=%2Fiothub&text={text}")


def test_each_batch_gets_ids_and_is_stored_once_even_when_sent_again(store: JobStore) -> None:
    outbox, delivered = Outbox(), Delivered()
    JobSender(outbox, delivered).start()
    for n in range(20):
        outbox.put(command(f"status {n}"))
    wait_for("delivery", lambda: len(delivered.jobs) == 20)
    assert len({job.id for job in delivered.jobs}) == 20
    keeper = JobKeeper(store, "work", LEASE, lambda job: None)
    assert len(keeper.take(delivered.jobs)) == 20  # stored, then claimed: all ours
    stored = {job.id: job for job in store.pending()}
    assert sorted(str(stored[str(j.id)].body) for j in delivered.jobs) == sorted(
        str(j.body) for j in delivered.jobs)
    # The front sends a batch again when its work process died before saying "stored".
    again = JobKeeper(store, "next", LEASE, lambda job: None)
    assert again.take(delivered.jobs) == []  # still claimed by the first: nothing twice
    assert len(store.pending()) == 20
    outbox.close()


def test_without_a_database_the_jobs_still_run(tmp_path: Path) -> None:
    broken = JobStore(f"sqlite:///{tmp_path}")  # a directory: nothing can be written
    keeper = JobKeeper(broken, "work", LEASE, lambda job: None)
    jobs = [replace(command("status hub"), id="job-1")]
    assert keeper.take(jobs) == jobs  # run once, not stored
    broken.close()


def test_jobs_of_a_dead_work_process_run_in_the_next(store: JobStore) -> None:
    outbox, delivered = Outbox(), Delivered()
    JobSender(outbox, delivered).start()
    for n in range(3):
        outbox.put(command(f"status {n}"))
    wait_for("delivery", lambda: len(delivered.jobs) == 3)

    ran_by_dead: list[LazyJob] = []
    dead = JobKeeper(store, "dead", LEASE, ran_by_dead.append)
    claimed = dead.take(delivered.jobs)  # it stored and claimed them, then died
    assert len(claimed) == 3
    store.release("dead")  # what the next work process does first

    ran: list[LazyJob] = []
    keeper = JobKeeper(store, "next", LEASE, lambda job: (ran.append(job), keeper.finished(job)))
    keeper.start()
    wait_for("the re-run", lambda: len(ran) == 3)
    assert sorted(str(j.body) for j in ran) == sorted(str(j.body) for j in delivered.jobs)
    wait_for("the jobs to be marked done", lambda: not store.pending())
    assert keeper.claim(delivered.jobs) == []  # a late wake-up runs nothing twice
    keeper.stop()
    outbox.close()


class Batches(Delivered):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __call__(self, jobs: list[LazyJob]) -> None:
        self.sizes.append(len(jobs))
        super().__call__(jobs)


def test_a_burst_of_acks_is_sent_in_one_batch_and_a_lone_ack_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_outbox, "HOLD_MAX_S", WAIT_S)  # the burst, not the bound, ends it
    answering = threading.Event()
    answering.set()
    outbox, delivered = Outbox(), Batches()
    JobSender(outbox, delivered, answered_within=lambda _seconds: answering.is_set()).start()
    for n in range(5):  # acked while the front keeps answering
        outbox.put(command(f"status {n}"))
    answering.clear()  # the burst is over
    wait_for("the burst's delivery", lambda: len(delivered.jobs) == 5)
    assert delivered.sizes == [5]  # one batch (one insert) for the whole burst

    outbox.put(command("status alone"))
    wait_for("the lone job's delivery", lambda: len(delivered.jobs) == 6)
    assert delivered.sizes == [5, 1]
    outbox.close()


def test_a_front_that_never_stops_answering_still_hands_its_jobs_over() -> None:
    outbox, delivered = Outbox(), Batches()
    JobSender(outbox, delivered, answered_within=lambda _seconds: True).start()
    outbox.put(command("status hub"))
    wait_for("delivery", lambda: delivered.jobs)  # after HOLD_MAX_S at the latest
    outbox.close()


def test_the_front_counts_as_busy_for_a_moment_after_each_answer() -> None:
    in_flight = InFlight(SharedPage())
    assert not in_flight.answered_within(1.0)  # never answered
    with in_flight.answering():
        assert in_flight.answered_within(0.0)
    assert in_flight.answered_within(60.0)  # between two acks of a burst
    assert not in_flight.answered_within(0.0)
