"""The lazy-job table (``bot.store.jobs``) on SQLite and PostgreSQL: claims are exclusive, a
dead owner's claims come back, and a lapsed lease lets another work process take over."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store.jobs import JobStore, StoredJob

LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str, clock: Clock) -> Iterator[JobStore]:
    jobs = JobStore(db_url, clock=clock)
    yield jobs
    jobs.close()


def job(clock: Clock, body: str | dict[str, object] = "command=%2Fiothub&text=status",
        mode: str = "http") -> StoredJob:
    return StoredJob(id=uuid.uuid4().hex, function="answer", mode=mode, body=body,
                     headers={"content-type": ["application/x-www-form-urlencoded"]},
                     request_id="req-1", created_at=clock.now)


def test_a_job_is_claimed_by_one_owner_only(store: JobStore, clock: Clock) -> None:
    first, second = job(clock), job(clock)
    store.add([first, second])
    assert store.claim("work-1", [first.id, second.id], LEASE) == {first.id, second.id}
    assert store.claim("work-2", [first.id, second.id], LEASE) == set()
    assert store.claim_due("work-2", LEASE, unclaimed_for=timedelta(0)) == []


def test_a_job_round_trips_with_its_body_and_headers(store: JobStore, clock: Clock) -> None:
    http = job(clock)
    socket_mode = job(clock, body={"command": "/iothub", "text": "status hub"}, mode="socket_mode")
    store.add([http, socket_mode])
    claimed = {j.id: j for j in store.claim_due("work-1", LEASE, unclaimed_for=timedelta(0))}
    assert claimed[http.id].body == http.body
    assert claimed[socket_mode.id].body == socket_mode.body
    assert claimed[http.id].headers == http.headers
    assert claimed[http.id].created_at == clock.now
    assert claimed[http.id].attempts == 1


def test_done_jobs_are_gone(store: JobStore, clock: Clock) -> None:
    done, pending = job(clock), job(clock)
    store.add([done, pending])
    store.claim("work-1", [done.id, pending.id], LEASE)
    store.done([done.id])
    assert [j.id for j in store.pending()] == [pending.id]


def test_a_dead_owners_jobs_are_released_and_claimed_again(store: JobStore,
                                                           clock: Clock) -> None:
    held, other = job(clock), job(clock)
    store.add([held, other])
    store.claim("dead", [held.id], LEASE)
    store.claim("alive", [other.id], LEASE)
    assert store.release("dead") == 1
    again = store.claim_due("next", LEASE, unclaimed_for=timedelta(0))
    assert [j.id for j in again] == [held.id]
    assert again[0].attempts == 2


def test_a_fresh_unclaimed_job_is_left_to_its_wake_up(store: JobStore, clock: Clock) -> None:
    fresh = job(clock)
    store.add([fresh])
    assert store.claim_due("sweeper", LEASE, unclaimed_for=timedelta(seconds=2)) == []
    clock.now += timedelta(seconds=3)
    assert [j.id for j in store.claim_due("sweeper", LEASE,
                                          unclaimed_for=timedelta(seconds=2))] == [fresh.id]


def test_a_lapsed_lease_lets_another_owner_take_the_job(store: JobStore, clock: Clock) -> None:
    held = job(clock)
    store.add([held])
    store.claim("vanished", [held.id], LEASE)
    clock.now += LEASE / 2
    assert store.renew("vanished", LEASE) == 1  # it renews while it lives…
    clock.now += LEASE * 0.9
    assert store.claim_due("other", LEASE, unclaimed_for=timedelta(0)) == []
    clock.now += LEASE  # …and then no more
    assert [j.id for j in store.claim_due("other", LEASE,
                                          unclaimed_for=timedelta(0))] == [held.id]


def test_concurrent_sweeps_never_claim_one_job_twice(db_url: str, clock: Clock) -> None:
    stores = [JobStore(db_url, clock=clock) for _ in range(4)]
    try:
        jobs = [job(clock) for _ in range(60)]
        stores[0].add(jobs)
        claimed: dict[str, list[str]] = {}
        start = threading.Barrier(len(stores))

        def sweep(index: int) -> None:
            start.wait()
            mine: list[str] = []
            while batch := stores[index].claim_due(f"work-{index}", LEASE,
                                                   unclaimed_for=timedelta(0), limit=5):
                mine += [j.id for j in batch]
            claimed[f"work-{index}"] = mine

        threads = [threading.Thread(target=sweep, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        everything = [i for ids in claimed.values() for i in ids]
        assert sorted(everything) == sorted(j.id for j in jobs)  # each once, none lost
    finally:
        for store in stores:
            store.close()
