"""What only a real database can show of the use cases: starts racing in threads, each with
its own transaction, on SQLite and PostgreSQL. The rest of the use cases run on the
in-memory store, in ``tests/unit/service``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.store.base import UnitOfWork
from tests.support.service_world import APPROVER, HUB, World, build_world


@pytest.fixture
def world(uow_factory: Callable[[], UnitOfWork]) -> World:
    world = build_world(uow_factory, bot_approvers="U_APP")
    world.gateway.add_hub(HUB, "North Europe", devices=50_000)
    return world


def test_concurrent_starts_call_azure_exactly_once(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        world.service.starting.start(request_id)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert world.gateway.calls["start_failover"] == 1
    assert world.actions(request_id=request_id).count(AuditAction.STARTED) == 1
    assert world.request(request_id).status is RequestStatus.RUNNING


def test_a_whole_failover_on_the_real_store(world: World) -> None:
    """Asked, approved, started, followed to its end and reported: every query the use cases
    make, in SQL."""
    done = world.run_to_end(world.request_id())
    assert done.status is RequestStatus.SUCCEEDED
    report = world.service.observing.report(done)
    assert report.quota_left == 1
    assert world.actions(request_id=done.id)[0] is AuditAction.SUCCEEDED
