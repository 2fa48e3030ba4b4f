"""The deployment's start pace in the database (SQLite and PostgreSQL): turns one interval
apart whoever claims them, threads of one process or engines of two replicas."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import pace
from bot.store.base import StoreUnavailable
from bot.store.sql import SqlUnitOfWork, make_engine, unit_of_work_factory

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=2)
UowFactory = Callable[[], SqlUnitOfWork]


def claim(uow_factory: UowFactory, now: datetime, interval: timedelta = INTERVAL) -> datetime:
    with uow_factory() as uow:
        at = uow.pace.claim_next(interval, lambda: now)
        uow.commit()
        return at


@pytest.fixture
def replicas(db_url: str) -> Iterator[list[UowFactory]]:
    """Two replicas' stores: an engine (and a pool of connections) each, one database."""
    engines = [make_engine(db_url) for _ in range(2)]
    yield [unit_of_work_factory(engine) for engine in engines]
    for engine in engines:
        engine.dispose()


def test_turns_follow_one_interval_apart_and_a_quiet_pace_starts_now(
        uow_factory: UowFactory) -> None:
    with uow_factory() as uow:
        assert uow.pace.last_turn() is None
    assert claim(uow_factory, T0) == T0
    assert claim(uow_factory, T0) == T0 + INTERVAL
    assert claim(uow_factory, T0 + timedelta(milliseconds=500)) == T0 + 2 * INTERVAL
    later = T0 + timedelta(minutes=3)
    assert claim(uow_factory, later) == later  # nobody started meanwhile: no wait
    with uow_factory() as uow:
        assert uow.pace.last_turn() == later


def test_replicas_racing_for_turns_get_each_its_own_one_interval_apart(
        replicas: list[UowFactory]) -> None:
    """Twelve starts at the same instant on two replicas (the first claim creates the row):
    twelve turns, none shared, each one interval after another."""
    barrier = threading.Barrier(12)

    def race(i: int) -> datetime:
        barrier.wait()
        return claim(replicas[i % 2], T0)

    with ThreadPoolExecutor(max_workers=12) as pool:
        turns = list(pool.map(race, range(12)))
    assert sorted(turns) == [T0 + INTERVAL * k for k in range(12)]


def test_a_turn_written_by_a_clock_far_ahead_does_not_hold_the_deployment_back(
        uow_factory: UowFactory) -> None:
    claim(uow_factory, T0 + timedelta(hours=6))  # a replica whose clock had jumped
    assert claim(uow_factory, T0) == T0


def test_a_claim_rolled_back_takes_no_turn(uow_factory: UowFactory) -> None:
    assert claim(uow_factory, T0) == T0
    with uow_factory() as uow:  # no commit: the POST's unit of work failed
        assert uow.pace.claim_next(INTERVAL, lambda: T0) == T0 + INTERVAL
    assert claim(uow_factory, T0) == T0 + INTERVAL


@pytest.mark.postgres
@pytest.mark.parametrize("blank_db_url", ["postgres"], indirect=True)
def test_a_replica_hanging_on_the_pace_holds_the_others_only_briefly(
        replicas: list[UowFactory], monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica paused in the middle of its claim keeps the row locked: the other's claim
    gives up after the lock timeout, as if the database were unavailable (its start then
    goes on its own pace), instead of holding every start of the deployment."""
    monkeypatch.setattr(pace, "LOCK_TIMEOUT_MS", 200)
    claim(replicas[0], T0)  # the row exists
    hanging, other = replicas
    with hanging() as holder:
        holder.pace.claim_next(INTERVAL, lambda: T0)  # locked, never committed
        began = time.monotonic()
        with pytest.raises(StoreUnavailable):
            claim(other, T0)
        assert time.monotonic() - began < 5
    assert claim(other, T0) == T0 + INTERVAL  # released: the pace goes on
