"""Observing: following a running operation to its end, whatever Azure forgot or never
answered, and the completion report."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import HubRef, OperationKind
from bot.domain.request import RequestStatus
from bot.domain.rules import Refusal, RefusalReason
from bot.hubs.gateway import GatewayError
from bot.service import Preview
from tests.support.service_world import APPROVER, CHANNEL, HUB, REQUESTER, World


def test_failover_completes_then_failback_waits_for_the_cooldown(world: World) -> None:
    done = world.run_to_end(world.request_id())
    assert done.status is RequestStatus.SUCCEEDED
    assert done.region_after and done.region_after.replace(" ", "").lower() == "westeurope"
    report = world.service.observing.report(done)
    assert report.quota_left == 1
    assert report.failback_allowed_at == done.completed_at + timedelta(hours=1)  # type: ignore[operator]

    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK)
    assert isinstance(refusal, Refusal) and refusal.reason is RefusalReason.COOLDOWN
    assert refusal.allowed_at == report.failback_allowed_at

    world.clock.advance(timedelta(hours=1))
    assert isinstance(world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK),
                      Preview)


def test_third_failover_in_a_day_is_refused_until_the_first_leaves_the_window(
        world: World) -> None:
    first_approved_at = None
    for _ in range(2):
        failover = world.run_to_end(world.request_id(OperationKind.FAILOVER))
        first_approved_at = first_approved_at or failover.decided_at
        world.clock.advance(timedelta(hours=1))
        world.run_to_end(world.request_id(OperationKind.FAILBACK))
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER)
    assert isinstance(refusal, Refusal)
    assert refusal.reason is RefusalReason.QUOTA_EXHAUSTED
    # The first must be more than 24 h old: Azure counts one exactly 24 h old.
    assert refusal.allowed_at == (first_approved_at  # type: ignore[operator]
                                  + timedelta(hours=24, microseconds=1))
    world.clock.set(refusal.allowed_at)  # type: ignore[arg-type]
    assert isinstance(world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER),
                      Preview)


def test_crash_before_azure_answered_is_resolved_by_looking_not_by_posting(
        world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    world.running_without_a_handle(request_id)  # a crash before the handle was stored
    assert world.service.observing.observe(request_id).request.status is RequestStatus.RUNNING  # type: ignore[union-attr]
    world.clock.advance(timedelta(minutes=5))
    seen = world.service.observing.observe(request_id)
    assert seen is not None and seen.request.status is RequestStatus.FAILED
    assert seen.request.error_code == "NotStarted"
    assert world.gateway.calls["start_failover"] == 0


def test_lost_answer_from_azure_keeps_running_and_finishes_from_the_hubs_state(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real_start = world.gateway.start_failover

    def start_then_lose_answer(ref: HubRef, target: str) -> str:
        real_start(ref, target)  # Azure got it...
        raise GatewayError("Azure's answer was lost and the hub could not be re-read.",
                           code="FailoverOutcomeUnknown")  # ...but we never heard back

    monkeypatch.setattr(world.gateway, "start_failover", start_then_lose_answer)
    done = world.run_to_end(world.request_id())
    assert done.status is RequestStatus.SUCCEEDED
    assert done.operation_handle is None
    assert world.gateway.calls["start_failover"] == 1


def test_an_operation_azure_forgot_is_followed_through_the_hub(world: World) -> None:
    world.run_to_end(world.request_id())  # sanity: a normal run works
    world.clock.advance(timedelta(hours=1))
    back = world.request_id(OperationKind.FAILBACK)
    assert world.service.deciding.approve(APPROVER, back).ok
    assert world.service.starting.start(back).status is RequestStatus.RUNNING  # type: ignore[union-attr]
    with world.service.uow() as uow:  # a handle Azure no longer knows
        running = uow.requests.get(back)
        assert running is not None
        assert uow.requests.save(running.evolve(operation_handle="sim:forgotten"),
                                 running.version)
        uow.commit()
    done = world.observe_until_end(back, timedelta(minutes=1)).request
    assert done.status is RequestStatus.SUCCEEDED
    assert done.region_after and done.region_after.replace(" ", "").lower() == "northeurope"


def test_a_start_azure_took_despite_a_lost_answer_is_followed_not_failed(world: World) -> None:
    """The answer was lost and the hub looked untouched, so the start was retried: Azure's
    409 then means our failover is running, and the hub's state tells how it ends."""
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    world.gateway.inject(HUB, timeout_on_start=True, slow_start=120)
    assert world.service.starting.start(request_id).status is RequestStatus.APPROVED  # type: ignore[union-attr]
    world.clock.advance(timedelta(seconds=30))
    assert world.service.starting.start(request_id).status is RequestStatus.RUNNING  # type: ignore[union-attr]
    done = world.observe_until_end(request_id, timedelta(minutes=1)).request
    assert done.status is RequestStatus.SUCCEEDED
    assert world.gateway.calls["start_failover"] == 2  # the second was refused by Azure


def test_a_hub_busy_after_a_postponed_start_is_followed_not_failed(world: World) -> None:
    """Azure took the POST whose answer was lost: at the retry the hub is failing over."""
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    world.gateway.inject(HUB, timeout_on_start=True, slow_start=20)
    assert world.service.starting.start(request_id).status is RequestStatus.APPROVED  # type: ignore[union-attr]
    world.clock.advance(timedelta(seconds=30))
    assert world.service.starting.start(request_id).status is RequestStatus.RUNNING  # type: ignore[union-attr]
    assert world.gateway.calls["start_failover"] == 1
    done = world.observe_until_end(request_id, timedelta(minutes=1)).request
    assert done.status is RequestStatus.SUCCEEDED
    assert world.gateway.calls["start_failover"] == 1
