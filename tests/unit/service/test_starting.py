"""Starting: the one POST to Azure per approved request, and what happens when Azure says no
or cannot be reached."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.model import AuditAction
from bot.domain.request import RequestStatus
from bot.domain.rules import RefusalReason
from tests.support.service_world import APPROVER, HUB, World


def test_an_approved_request_is_posted_once_and_a_second_approval_posts_nothing(
        world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    started = world.service.starting.start(request_id)
    assert started is not None and started.status is RequestStatus.RUNNING

    again = world.service.deciding.approve(APPROVER, request_id)
    world.service.starting.start(request_id)

    assert again.refusal.reason is RefusalReason.ALREADY_DECIDED  # type: ignore[union-attr]
    assert world.gateway.calls["start_failover"] == 1
    assert world.actions(request_id=request_id).count(AuditAction.STARTED) == 1
    assert world.request(request_id).status is RequestStatus.RUNNING


def test_hub_moved_since_approval_fails_without_calling_azure(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    # Somebody failed the hub over from the portal meanwhile.
    world.gateway.start_failover(world.gateway.resolve(HUB), "West Europe")
    world.clock.advance(timedelta(hours=2))
    calls_before = world.gateway.calls["start_failover"]
    failed = world.service.starting.start(request_id)
    assert failed is not None and failed.status is RequestStatus.FAILED
    assert failed.error_code == RefusalReason.HUB_CHANGED.value
    assert "West Europe" in (failed.error_message or "")
    assert world.gateway.calls["start_failover"] == calls_before


def test_azure_refusal_on_start_is_recorded_verbatim(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    world.gateway.inject(HUB, deny="Microsoft.Devices/IotHubs/failover/Action")
    failed = world.service.starting.start(request_id)
    assert failed is not None and failed.status is RequestStatus.FAILED
    assert failed.error_code == "AuthorizationFailed"
    assert "Microsoft.Devices/IotHubs/failover/Action" in (failed.error_message or "")
    assert world.actions(request_id=request_id)[0] is AuditAction.FAILED


def test_azure_busy_at_start_postpones_instead_of_failing(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    world.gateway.inject(HUB, drop_start=True)  # the POST never reaches Azure
    postponed = world.service.starting.start(request_id)
    assert postponed is not None and postponed.status is RequestStatus.APPROVED
    assert world.gateway.calls["start_failover"] == 1
    world.gateway.clear_faults()
    world.clock.advance(timedelta(minutes=1))
    assert world.service.starting.start(request_id).status is RequestStatus.RUNNING  # type: ignore[union-attr]
    # One operation started: the first POST is `started`, the one Azure took a `retry`.
    actions = world.actions(request_id=request_id)
    assert actions.count(AuditAction.STARTED) == 1
    assert actions.count(AuditAction.RETRY) == 1
