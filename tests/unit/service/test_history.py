"""Quota and cool-down from both sources (the bot's records and Azure's Activity Log), on the
simulated fleet and the in-memory store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import Actor
from bot.domain.request import RequestStatus
from bot.domain.rules import RefusalReason
from bot.hubs.gateway import Forbidden
from bot.service import FailoverService, HubStatus, Preview, SubmitFailover, Submitted
from bot.store.base import AuditQuery
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from tests.support.fake_store import FakeStore
from tests.support.service_world import World, build_world

REQUESTER, APPROVER = Actor("U_REQ"), Actor("U_APP")
CHANNEL, HUB = "C_INCIDENT", "contoso-weu"
FAILOVER, FAILBACK = OperationKind.FAILOVER, OperationKind.FAILBACK


class WithoutActivityLog:
    """The fleet behind a gateway that cannot read Azure's Activity Log (so ``bootstrap``
    wires no Activity Log reader)."""

    def __init__(self, fleet: SimulatedIotHubGateway) -> None:
        self._fleet = fleet

    def __getattr__(self, name: str) -> object:
        if name == "failover_operations":
            raise AttributeError(name)
        return getattr(self._fleet, name)


@pytest.fixture
def world(store: FakeStore) -> World:
    world = build_world(store, bot_approvers="U_APP", bot_activity_log_ttl=timedelta(seconds=60))
    world.gateway.add_hub(HUB, "West Europe", devices=1_000)
    return world


@pytest.fixture
def clock(world: World) -> FakeClock:
    return world.clock


@pytest.fixture
def fleet(world: World) -> SimulatedIotHubGateway:
    return world.gateway


@pytest.fixture
def service(world: World) -> FailoverService:
    return world.service


def _start(service: FailoverService, fleet: SimulatedIotHubGateway) -> str:
    hub = fleet.get_state(fleet.resolve(HUB), with_device_count=False)
    submitted = service.asking.submit(SubmitFailover(REQUESTER, CHANNEL, HUB, hub.next_kind, HUB,
                                              "INC-7", hub.active_region))
    assert isinstance(submitted, Submitted), submitted
    assert service.deciding.approve(APPROVER, submitted.request.id).ok
    service.starting.start(submitted.request.id)
    return submitted.request.id


def test_a_request_the_bot_recorded_as_failed_but_azure_ran_still_counts(
        service: FailoverService, fleet: SimulatedIotHubGateway, clock: FakeClock) -> None:
    request_id = _start(service, fleet)
    with service.uow() as uow:  # e.g. the bot lost track of it and gave up
        running = uow.requests.get(request_id)
        assert running is not None
        failed = running.evolve(status=RequestStatus.FAILED, completed_at=clock.now(),
                                error_code="NotStarted", version=running.version + 1)
        assert uow.requests.save(failed, running.version)
        uow.commit()
    clock.advance(timedelta(minutes=30))  # Azure finished it all the same

    status = service.reading.status(HUB)

    assert isinstance(status, HubStatus)
    assert status.quota_left == {FAILOVER: 1, FAILBACK: 2}
    assert status.quota_detail[FAILOVER].startswith(f"1 by this bot ({request_id}) at ")
    assert service.reading.audit(AuditQuery(actions=frozenset({AuditAction.OBSERVED}))) == []


def test_an_outside_failover_starts_the_cool_down_and_is_observed_once(
        service: FailoverService, fleet: SimulatedIotHubGateway, clock: FakeClock) -> None:
    fleet.outside_failover(HUB, caller="sre@contoso.com", client="Azure CLI",
                           ago=timedelta(minutes=30))  # 1,000 devices: ~8 min

    refusal = service.asking.preview(REQUESTER, CHANNEL, HUB, FAILBACK)
    service.reading.status(HUB)
    clock.advance(timedelta(minutes=61))
    preview = service.asking.preview(REQUESTER, CHANNEL, HUB, FAILBACK)

    assert not isinstance(refusal, Preview) and refusal.reason is RefusalReason.COOLDOWN
    assert "in the Azure CLI by sre@contoso.com" in refusal.message
    assert isinstance(preview, Preview) and preview.quota_left == 2
    observed = service.reading.audit(AuditQuery(actions=frozenset({AuditAction.OBSERVED})))
    assert [(e.actor, e.kind, e.detail["client"]) for e in observed] == [
        ("sre@contoso.com", FAILOVER, "Azure CLI")]


def test_without_an_activity_log_reader_only_the_bots_own_records_count(
        store: FakeStore) -> None:
    blind = build_world(store, seen_through=WithoutActivityLog)
    blind.gateway.add_hub(HUB, "West Europe", devices=1_000)
    blind.gateway.outside_failover(HUB, caller="sre@contoso.com", ago=timedelta(minutes=30))

    preview = blind.service.asking.preview(REQUESTER, CHANNEL, HUB, FAILBACK)

    assert isinstance(preview, Preview) and preview.quota_detail == ""
    assert blind.gateway.calls["activity_log"] == 0


def test_a_forbidden_activity_log_is_asked_again_only_after_the_ttl(
        service: FailoverService, fleet: SimulatedIotHubGateway, clock: FakeClock) -> None:
    fleet.activity_error = Forbidden("no", code="AuthorizationFailed")

    first = service.asking.preview(REQUESTER, CHANNEL, HUB, FAILOVER)
    second = service.asking.preview(REQUESTER, CHANNEL, HUB, FAILOVER)
    fleet.activity_error = None
    clock.advance(timedelta(seconds=61))
    third = service.asking.preview(REQUESTER, CHANNEL, HUB, FAILOVER)

    assert isinstance(first, Preview) and first.history_note
    assert isinstance(second, Preview) and second.history_note
    assert isinstance(third, Preview) and third.history_note is None
    assert fleet.calls["activity_log"] == 2
