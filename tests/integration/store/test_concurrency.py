"""Races the database must settle: only one approval, only one open request, one lease holder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.domain.request import FailoverRequest, RequestStatus, TransitionRefused
from bot.store.base import HubLocked
from bot.store.sql import SqlUnitOfWork

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NewRequest = Callable[..., FailoverRequest]
UowFactory = Callable[[], SqlUnitOfWork]


def add_polled(uow: SqlUnitOfWork, request: FailoverRequest, next_poll_at: datetime) -> None:
    uow.requests.add(request)
    uow.leases.schedule_poll(request.id, next_poll_at)
R = TypeVar("R")


def all_at_once(count: int, action: Callable[[int], R]) -> list[R]:
    """Run ``action(i)`` in ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> R:
        barrier.wait()
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_of_many_simultaneous_approvals_exactly_one_wins(uow_factory: UowFactory,
                                                         new_request: NewRequest) -> None:
    request = new_request()
    with uow_factory() as uow:
        uow.requests.add(request)
        uow.commit()

    def approve(i: int) -> FailoverRequest | None:
        with uow_factory() as uow:
            current = uow.requests.get(request.id)
            assert current is not None
            try:
                approved = current.approve(T0, f"U_APPROVER_{i}", T0).request
            except TransitionRefused:
                return None
            won = uow.requests.save(approved, current.version)
            uow.commit()
            return approved if won else None

    results = all_at_once(20, approve)

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    with uow_factory() as uow:
        stored = uow.requests.get(request.id)
    assert stored == winners[0]
    assert stored.version == 2


def test_of_two_simultaneous_requests_for_one_hub_exactly_one_is_added(
        uow_factory: UowFactory, new_request: NewRequest) -> None:
    candidates = [new_request(), new_request()]

    def add(i: int) -> bool:
        with uow_factory() as uow:
            try:
                uow.requests.add(candidates[i])
            except HubLocked:
                return False
            uow.commit()
            return True

    assert sorted(all_at_once(2, add)) == [False, True]
    with uow_factory() as uow:
        held = uow.requests.open_for_hub("contoso-hub")
    assert held is not None and held.id in {c.id for c in candidates}


def test_two_workers_claiming_at_once_never_share_a_request(uow_factory: UowFactory,
                                                            new_request: NewRequest) -> None:
    with uow_factory() as uow:
        for i in range(10):
            add_polled(uow, new_request(hub=f"hub-{i}", status=RequestStatus.RUNNING), T0)
        uow.commit()

    def claim(i: int) -> list[str]:
        with uow_factory() as uow:
            claimed = uow.leases.claim_due(f"worker-{i}", T0, timedelta(minutes=1), limit=10)
            uow.commit()
            return [r.id for r in claimed]

    first, second = all_at_once(2, claim)
    assert not set(first) & set(second)
    assert len(first) + len(second) == 10
