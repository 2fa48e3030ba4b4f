"""The use cases end to end on the simulated fleet and the real SQL store (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, HubRef, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import RequestStatus
from bot.domain.rules import Limits, RefusalReason
from bot.hubs.gateway import GatewayError
from bot.service import (
    Decision,
    FailoverService,
    FieldErrors,
    Preview,
    SubmitFailover,
    Submitted,
)
from bot.store.base import AuditQuery, UnitOfWork
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

REQUESTER = Actor("U_REQ")
APPROVER = Actor("U_APP")
OUTSIDER = Actor("U_OUT")
CHANNEL = "C_INCIDENT"
HUB = "contoso-weu"


@dataclass
class World:
    clock: FakeClock
    gateway: SimulatedIotHubGateway
    service: FailoverService

    def submit(self, kind: OperationKind = OperationKind.FAILOVER, *, hub: str = HUB,
               typed: str | None = None, reason: str = "INC-42 West Europe outage",
               actor: Actor = REQUESTER) -> Submitted | FieldErrors | object:
        state = self.gateway.get_state(self.gateway.resolve(hub), with_device_count=False)
        return self.service.asking.submit(SubmitFailover(
            actor=actor, channel_id=CHANNEL, hub_name=hub, kind=kind,
            typed_name=hub if typed is None else typed, reason=reason,
            expected_active_region=state.active_region))

    def request_id(self, kind: OperationKind = OperationKind.FAILOVER) -> str:
        result = self.submit(kind)
        assert isinstance(result, Submitted), result
        return result.request.id

    def run_to_end(self, request_id: str) -> None:
        """Approve, start and poll until Azure (simulated) is done."""
        assert self.service.deciding.approve(APPROVER, request_id).ok
        started = self.service.starting.start(request_id)
        assert started is not None and started.status is RequestStatus.RUNNING
        for _ in range(200):
            self.clock.advance(timedelta(minutes=1))
            seen = self.service.observing.observe(request_id)
            assert seen is not None
            if seen.finished:
                return
        raise AssertionError("operation never finished")

    def actions(self, **query: object) -> list[AuditAction]:
        return [e.action for e in self.service.reading.audit(AuditQuery(**query))]  # type: ignore[arg-type]


@pytest.fixture
def world(uow_factory: Callable[[], UnitOfWork]) -> World:
    clock = FakeClock()
    gateway = SimulatedIotHubGateway(clock)
    gateway.add_hub(HUB, "North Europe", devices=50_000)
    gateway.add_hub("fabrikam-wus2", "West US 2", devices=1_000)
    service = FailoverService(
        uow=uow_factory, gateway=gateway, clock=clock, limits=Limits(),
        access=AccessPolicy(approvers=frozenset({APPROVER.user_id})),
        request_ttl=timedelta(minutes=30), poll_interval=timedelta(seconds=30))
    return World(clock, gateway, service)


def test_preview_shows_target_region_estimate_and_quota(world: World) -> None:
    preview = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER)
    assert isinstance(preview, Preview)
    assert preview.hub.active_display == "North Europe"
    assert preview.hub.target_display == "West Europe"
    assert preview.hub.device_count == 50_000
    assert preview.quota_left == 2 and preview.quota_limit == 2
    assert timedelta(minutes=8) < preview.estimate < timedelta(minutes=15)


def test_failback_on_a_hub_at_home_asks_did_you_mean(world: World) -> None:
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK)
    assert not isinstance(refusal, Preview)
    assert refusal.reason is RefusalReason.WRONG_DIRECTION
    assert f"/iothub failover {HUB}" in refusal.message
    assert world.actions(hub=HUB) == [AuditAction.REFUSED]


@pytest.mark.parametrize(("name", "reason"), [
    ("no-such-hub", RefusalReason.HUB_NOT_FOUND),
    ("bad_name!", RefusalReason.INVALID_HUB_NAME),
])
def test_unknown_or_malformed_hub_is_refused_and_audited(world: World, name: str,
                                                         reason: RefusalReason) -> None:
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, name, OperationKind.FAILOVER)
    assert not isinstance(refusal, Preview) and refusal.reason is reason
    events = world.service.reading.audit(AuditQuery(user=REQUESTER.user_id))
    assert [e.detail["reason"] for e in events] == [reason.value]


def test_wrong_typed_name_gives_inline_error_and_writes_no_request(world: World) -> None:
    result = world.submit(typed="contoso-wue", reason="")
    assert isinstance(result, FieldErrors)
    assert set(result.errors) == {"confirm_hub_name", "reason"}
    assert world.service.reading.status(HUB).open_request is None  # type: ignore[union-attr]
    assert world.actions(hub=HUB) == [AuditAction.REFUSED, AuditAction.REFUSED]


def test_second_request_for_a_hub_is_refused_while_one_is_open(world: World) -> None:
    first = world.request_id()
    second = world.submit()
    assert not isinstance(second, Submitted)
    assert second.reason is RefusalReason.HUB_LOCKED  # type: ignore[union-attr]
    assert first in second.message  # type: ignore[union-attr]


def test_approval_rules_self_outsider_then_one_winner(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(REQUESTER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.SELF_APPROVAL)
    assert world.service.deciding.approve(OUTSIDER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.NOT_APPROVER)
    won = world.service.deciding.approve(APPROVER, request_id)
    assert won.ok and won.request.status is RequestStatus.APPROVED  # type: ignore[union-attr]
    again = world.service.deciding.approve(APPROVER, request_id)
    assert again.refusal.reason is RefusalReason.ALREADY_DECIDED  # type: ignore[union-attr]
    assert world.actions(request_id=request_id).count(AuditAction.APPROVED) == 1


def test_a_request_expires_and_can_no_longer_be_approved(world: World) -> None:
    request_id = world.request_id()
    world.clock.advance(timedelta(minutes=31))
    assert world.service.deciding.approve(APPROVER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.EXPIRED)
    expired = world.service.deciding.expire_due()
    assert [r.id for r in expired] == [request_id]
    assert world.service.reading.get_request(request_id).status is RequestStatus.EXPIRED  # type: ignore[union-attr]
    # The hub is free again.
    assert isinstance(world.submit(), Submitted)


def test_cancel_by_requester_but_not_by_an_outsider(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.cancel(OUTSIDER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.NOT_OWNER)
    assert world.service.deciding.cancel(REQUESTER, request_id).ok
    assert world.service.deciding.approve(APPROVER, request_id).refusal.reason is (  # type: ignore[union-attr]
        RefusalReason.ALREADY_DECIDED)


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


def test_failover_completes_then_failback_waits_for_the_cooldown(world: World) -> None:
    request_id = world.request_id()
    world.run_to_end(request_id)
    done = world.service.reading.get_request(request_id)
    assert done is not None and done.status is RequestStatus.SUCCEEDED
    assert done.region_after and done.region_after.replace(" ", "").lower() == "westeurope"
    report = world.service.observing.report(done)
    assert report.quota_left == 1
    assert report.failback_allowed_at == done.completed_at + timedelta(hours=1)  # type: ignore[operator]

    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK)
    assert not isinstance(refusal, Preview) and refusal.reason is RefusalReason.COOLDOWN
    assert refusal.allowed_at == report.failback_allowed_at

    world.clock.advance(timedelta(hours=1))
    assert isinstance(world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILBACK),
                      Preview)


def test_third_failover_in_a_day_is_refused_until_the_first_leaves_the_window(
        world: World) -> None:
    first_approved_at = None
    for _ in range(2):
        failover = world.request_id(OperationKind.FAILOVER)
        world.run_to_end(failover)
        approved = world.service.reading.get_request(failover)
        first_approved_at = first_approved_at or approved.decided_at  # type: ignore[union-attr]
        world.clock.advance(timedelta(hours=1))
        world.run_to_end(world.request_id(OperationKind.FAILBACK))
    refusal = world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER)
    assert not isinstance(refusal, Preview)
    assert refusal.reason is RefusalReason.QUOTA_EXHAUSTED
    # The first must be more than 24 h old: Azure counts one exactly 24 h old.
    assert refusal.allowed_at == (first_approved_at  # type: ignore[operator]
                                  + timedelta(hours=24, microseconds=1))
    world.clock.set(refusal.allowed_at)  # type: ignore[arg-type]
    assert isinstance(world.service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER),
                      Preview)


def test_without_required_approval_a_confirmed_request_is_approved_at_once(
        world: World) -> None:
    world.service.access = AccessPolicy(require_approval=False)
    result = world.submit()
    assert isinstance(result, Submitted)
    assert result.request.status is RequestStatus.APPROVED
    assert world.service.starting.start(result.request.id).status is RequestStatus.RUNNING  # type: ignore[union-attr]


def test_hub_moved_since_approval_fails_without_calling_azure(world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    # Somebody failed the hub over from the portal meanwhile.
    ref = world.gateway.resolve(HUB)
    world.gateway.start_failover(ref, "West Europe")
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


def test_crash_before_azure_answered_is_resolved_by_looking_not_by_posting(
        world: World) -> None:
    request_id = world.request_id()
    assert world.service.deciding.approve(APPROVER, request_id).ok
    # Simulate a crash after the audit row and before the handle was stored: the request is
    # running without a handle, and Azure never got the POST.
    with world.service.uow() as uow:
        approved = uow.requests.get(request_id)
        assert approved is not None
        running = approved.start(world.clock.now(), approved.next_poll_at or world.clock.now())
        assert uow.requests.save(running.request, approved.version)
        uow.commit()
    assert world.service.observing.observe(request_id).request.status is RequestStatus.RUNNING  # type: ignore[union-attr]
    world.clock.advance(timedelta(minutes=5))
    seen = world.service.observing.observe(request_id)
    assert seen is not None and seen.request.status is RequestStatus.FAILED
    assert seen.request.error_code == "NotStarted"
    assert world.gateway.calls["start_failover"] == 0


def test_status_shows_open_request_quota_and_recent(world: World) -> None:
    request_id = world.request_id()
    status = world.service.reading.status(HUB, REQUESTER)
    assert not isinstance(status, Decision)
    assert status.open_request and status.open_request.id == request_id  # type: ignore[union-attr]
    assert status.quota_left == {OperationKind.FAILOVER: 2, OperationKind.FAILBACK: 2}  # type: ignore[union-attr]
    assert [r.id for r in status.recent] == [request_id]  # type: ignore[union-attr]


def test_list_hubs_is_sorted_and_paged(world: World) -> None:
    for i in range(25):
        world.gateway.add_hub(f"hub-{i:02d}", "East US")
    first = world.service.reading.list_hubs(page=1, page_size=10)
    last = world.service.reading.list_hubs(page=9, page_size=10)
    assert first.pages == 3 and first.total == 27  # type: ignore[union-attr]
    assert [h.name for h in first.hubs][:2] == ["contoso-weu", "fabrikam-wus2"]  # type: ignore[union-attr]
    assert last.page == 3 and len(last.hubs) == 7  # type: ignore[union-attr]


def test_lost_answer_from_azure_keeps_running_and_finishes_from_the_hubs_state(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real_start = world.gateway.start_failover

    def start_then_lose_answer(ref: HubRef, target: str) -> str:
        real_start(ref, target)  # Azure got it...
        raise GatewayError("Azure's answer was lost and the hub could not be re-read.",
                           code="FailoverOutcomeUnknown")  # ...but we never heard back

    monkeypatch.setattr(world.gateway, "start_failover", start_then_lose_answer)
    request_id = world.request_id()
    world.run_to_end(request_id)
    done = world.service.reading.get_request(request_id)
    assert done is not None and done.status is RequestStatus.SUCCEEDED
    assert done.operation_handle is None
    assert world.gateway.calls["start_failover"] == 1


@pytest.mark.parametrize("decide", ["approve", "reject", "cancel"])
def test_unknown_request_id_is_refused_and_audited(world: World, decide: str) -> None:
    decision = getattr(world.service.deciding, decide)(APPROVER, "fr-deadbeef")
    assert decision.request is None
    assert decision.refusal.reason is RefusalReason.NOT_FOUND
    events = world.service.reading.audit(AuditQuery(user=APPROVER.user_id))
    assert [(e.action, e.detail["reason"]) for e in events] == [
        (AuditAction.REFUSED, RefusalReason.NOT_FOUND.value)]


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


def test_an_operation_azure_forgot_is_followed_through_the_hub(world: World) -> None:
    request_id = world.request_id()
    world.run_to_end(request_id)  # sanity: a normal run works
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
    for _ in range(200):
        world.clock.advance(timedelta(minutes=1))
        seen = world.service.observing.observe(back)
        if seen is not None and seen.finished:
            break
    done = world.service.reading.get_request(back)
    assert done is not None and done.status is RequestStatus.SUCCEEDED
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
    for _ in range(200):
        world.clock.advance(timedelta(minutes=1))
        if world.service.observing.observe(request_id).finished:  # type: ignore[union-attr]
            break
    done = world.service.reading.get_request(request_id)
    assert done is not None and done.status is RequestStatus.SUCCEEDED
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
    for _ in range(200):
        world.clock.advance(timedelta(minutes=1))
        if world.service.observing.observe(request_id).finished:  # type: ignore[union-attr]
            break
    assert world.service.reading.get_request(request_id).status is RequestStatus.SUCCEEDED  # type: ignore[union-attr]
    assert world.gateway.calls["start_failover"] == 1


def test_a_request_records_the_device_count_its_estimate_rests_on(world: World) -> None:
    result = world.submit()
    assert isinstance(result, Submitted)
    assert result.request.device_count == 50_000
