"""Never a false failure (#13): a POST in flight, a hub Azure acts on late, Azure busy for a
while, a database that fails after the POST. The service as bootstrap wires it, on the
in-memory store, the simulated fleet, time on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.domain.model import AuditAction, HubRef
from bot.domain.request import RequestStatus
from bot.hubs.gateway import Throttled
from bot.poller.heartbeat import LeaseHeartbeat
from bot.service import Observation, Submitted
from bot.store.base import StoreUnavailable, UnitOfWork
from tests.support.fake_store import FakeStore
from tests.support.service_world import HUB, POLL, World, build_world

TTL = timedelta(minutes=30)


class FlakyCommits:
    """A unit-of-work factory whose next ``failures`` commits fail as a lost database does."""

    def __init__(self, factory: Callable[[], UnitOfWork]) -> None:
        self._factory = factory
        self.failures = 0

    def __call__(self) -> UnitOfWork:
        uow = self._factory()
        real_commit = uow.commit

        def commit() -> None:
            if self.failures:
                self.failures -= 1
                raise StoreUnavailable("the database is unavailable")
            real_commit()

        uow.commit = commit  # type: ignore[method-assign]
        return uow


@dataclass
class Starts(World):
    uow: FlakyCommits  # the store, whose commits a test can make fail

    def approved(self) -> str:
        result = self.submit(reason="INC-13")
        assert isinstance(result, Submitted), result
        assert result.request.status is RequestStatus.APPROVED
        return result.request.id

    def status(self, request_id: str) -> RequestStatus:
        return self.request(request_id).status


@pytest.fixture
def world(store: FakeStore) -> Starts:
    flaky = FlakyCommits(store)
    built = build_world(flaky, bot_require_approval=False, bot_request_ttl=TTL,
                        bot_poll_interval=POLL)
    built.gateway.add_hub(HUB, "North Europe", devices=50_000)
    return Starts(built.clock, built.gateway, built.service, flaky)


def test_while_the_post_waits_for_azure_nobody_decides_nothing_is_running(
        world: Starts, monkeypatch: pytest.MonkeyPatch) -> None:
    heartbeat = LeaseHeartbeat(world.uow, world.clock, timedelta(seconds=15))
    world.service.use_leases(heartbeat, "pod-a/start", heartbeat.ttl)
    request_id = world.approved()
    real_start = world.gateway.start_failover
    during: dict[str, object] = {}

    def slow_start(ref: HubRef, target: str) -> str:
        # Azure has not answered yet; ten minutes pass (the old rule gave up after two),
        # the heartbeat renewing the POSTer's lease as its thread does.
        for _ in range(120):
            world.clock.advance(heartbeat.interval)
            assert heartbeat.beat() == 1
        with world.service.uow() as uow:
            row = uow.requests.get(request_id)
            # Another replica's poller finds nothing to claim: the POSTer's lease is live.
            during["claimed"] = uow.leases.claim_due("replica-b", world.clock.now(),
                                                     timedelta(seconds=15), 10)
            uow.commit()
        during["row"] = row
        during["seen"] = world.service.observing.observe(request_id)  # this process's own poller
        return real_start(ref, target)

    monkeypatch.setattr(world.gateway, "start_failover", slow_start)
    started = world.service.starting.start(request_id)

    assert started is not None and started.status is RequestStatus.RUNNING
    assert started.operation_handle  # Azure's answer, stored
    row = during["row"]
    assert row.status is RequestStatus.RUNNING and row.operation_handle is None  # type: ignore[attr-defined]
    assert during["claimed"] == []
    seen = during["seen"]
    assert isinstance(seen, Observation) and seen.request.status is RequestStatus.RUNNING
    assert seen.poll is None  # nothing said about Azure before Azure answered
    assert heartbeat.kept() == set()  # Azure answered: the POSTer's lease is handed back
    assert world.observe_until_end(request_id).request.status is RequestStatus.SUCCEEDED
    assert AuditAction.FAILED not in world.actions(request_id=request_id)
    assert world.gateway.calls["start_failover"] == 1


def _crashed_before_azure_answered(world: Starts) -> str:
    """Running, no handle, no lease: the process that POSTed is gone, its answer with it."""
    request_id = world.approved()
    world.running_without_a_handle(request_id)
    return request_id


def test_nothing_is_running_only_after_the_hub_stayed_quiet_for_five_minutes(
        world: Starts) -> None:
    request_id = _crashed_before_azure_answered(world)
    for _ in range(9):  # 4 min 30 s of looks, each one finding the hub Active where it was
        seen = world.service.observing.observe(request_id)
        assert seen is not None and seen.request.status is RequestStatus.RUNNING
        assert seen.poll is None  # not "accepted", not "failed": not known yet
        world.clock.advance(POLL)
    world.clock.advance(POLL)  # five minutes
    seen = world.service.observing.observe(request_id)

    assert seen is not None and seen.request.status is RequestStatus.FAILED
    assert seen.request.error_code == "NotStarted"
    message = seen.request.error_message or ""
    assert "for 5m the hub has stayed Active in North Europe" in message
    assert "no request to Azure has been in flight" in message
    assert "nothing is running" in message
    assert world.gateway.calls["start_failover"] == 0


def test_a_hub_azure_acts_on_late_is_followed_to_success_not_failed(world: Starts) -> None:
    request_id = _crashed_before_azure_answered(world)
    for _ in range(8):
        seen = world.service.observing.observe(request_id)
        assert seen.request.status is RequestStatus.RUNNING  # type: ignore[union-attr]
        world.clock.advance(POLL)
    # Four minutes on, the hub starts failing over: the lost POST had reached Azure.
    world.gateway.start_failover(world.gateway.resolve(HUB), "West Europe")
    seen = world.service.observing.observe(request_id)
    assert seen is not None and seen.poll is not None  # now Azure is evidently at it

    done = world.observe_until_end(request_id)

    assert done.request.status is RequestStatus.SUCCEEDED
    assert done.request.region_after and "west" in done.request.region_after.lower()


def test_a_busy_azure_is_retried_with_growing_jittered_back_off_and_one_started(
        world: Starts) -> None:
    request_id = world.approved()
    waits: list[timedelta] = []
    for _ in range(5):
        world.gateway.inject(HUB, drop_start=True)  # the POST never reaches Azure
        request = world.service.starting.start(request_id)
        assert request is not None and request.status is RequestStatus.APPROVED
        assert request.next_poll_at is not None
        waits.append(request.next_poll_at - world.clock.now())
        world.clock.advance(waits[-1])

    started = world.service.starting.start(request_id)

    assert started is not None and started.status is RequestStatus.RUNNING
    for failures, wait in enumerate(waits, start=1):
        ceiling = min(POLL * 2 ** (failures - 1), timedelta(minutes=5))
        assert ceiling / 2 <= wait <= ceiling, (failures, wait)
    actions = world.actions(request_id=request_id)
    # Six POSTs, each audited before it was sent: the first `started`, the others `retry`.
    assert actions.count(AuditAction.STARTED) == 1
    assert actions.count(AuditAction.RETRY) == 5
    assert world.gateway.calls["start_failover"] == 6
    assert AuditAction.FAILED not in actions


def test_azures_retry_after_is_honoured_even_beyond_our_own_cap(
        world: Starts, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = world.approved()

    def throttled(ref: HubRef, target: str) -> str:
        raise Throttled("Too many requests.", code="TooManyRequests", retry_after=600)

    monkeypatch.setattr(world.gateway, "start_failover", throttled)
    request = world.service.starting.start(request_id)

    assert request is not None and request.next_poll_at is not None
    assert request.next_poll_at - world.clock.now() == timedelta(seconds=600)


def test_a_start_azure_never_takes_gives_up_at_the_request_ttl_with_azures_words(
        world: Starts, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = world.approved()
    approved_at = world.clock.now()

    def unavailable(ref: HubRef, target: str) -> str:
        raise Throttled("The service is temporarily unavailable.", code="ServiceUnavailable")

    monkeypatch.setattr(world.gateway, "start_failover", unavailable)
    for _ in range(100):
        request = world.service.starting.start(request_id)
        assert request is not None
        if request.status is not RequestStatus.APPROVED:
            break
        assert request.next_poll_at is not None
        assert request.next_poll_at <= approved_at + TTL  # never a back-off past the TTL
        world.clock.advance(request.next_poll_at - world.clock.now())

    assert request.status is RequestStatus.FAILED
    assert world.clock.now() == approved_at + TTL  # given up on time
    assert "for 30m after the approval: The service is temporarily unavailable." in (
        request.error_message or "")
    assert world.actions(request_id=request_id).count(AuditAction.FAILED) == 1


def test_a_database_lost_after_the_post_never_loses_the_operation(
        world: Starts, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = world.approved()
    real_start = world.gateway.start_failover

    def start_then_lose_the_database(ref: HubRef, target: str) -> str:
        handle = real_start(ref, target)  # Azure took it...
        world.uow.failures = 3  # ...and the database goes away before the handle is stored
        return handle

    monkeypatch.setattr(world.gateway, "start_failover", start_then_lose_the_database)
    started = world.service.starting.start(request_id)

    assert started is not None and started.status is RequestStatus.RUNNING
    assert started.operation_handle  # kept in memory
    assert world.service.reading.get_request(request_id).operation_handle is None  # type: ignore[union-attr]
    world.clock.advance(timedelta(minutes=6))  # past the span after which "nothing runs"
    seen = world.service.observing.observe(request_id)  # the database still refuses commits
    assert seen is not None and seen.request.status is RequestStatus.RUNNING
    assert seen.poll is not None  # followed through Azure's handle, from memory
    world.uow.failures = 0
    assert world.service.starting.save_unsaved_handles() == 0  # the poller's next round stores it

    stored = world.service.reading.get_request(request_id)
    assert stored.operation_handle == started.operation_handle  # type: ignore[union-attr]
    assert world.observe_until_end(request_id).request.status is RequestStatus.SUCCEEDED
    actions = world.actions(request_id=request_id)
    assert actions.count(AuditAction.STARTED) == 1 and AuditAction.FAILED not in actions
    assert world.gateway.calls["start_failover"] == 1
