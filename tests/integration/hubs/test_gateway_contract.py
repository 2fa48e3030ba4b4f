"""One behavioural suite, run against both gateways: what the rest of the bot may rely on.

The Azure world is the real SDK talking to an emulated ARM (``responses``); the simulated world
is the simulator. Both run on a FakeClock, so an operation "takes" minutes and no test waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Protocol

import pytest
import responses
from _arm_emulator import ArmEmulator
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.gateway import (
    GatewayError,
    HubNotFound,
    IotHubGateway,
    OperationConflict,
    OperationState,
    Throttled,
)
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

A_MINUTE = timedelta(minutes=1)
LONG_ENOUGH = timedelta(hours=2)  # past any operation here, and past the failback cool-down


class World(Protocol):
    """Azure as a test sees it: hubs to create, time to pass, faults to cause."""

    clock: FakeClock
    gateway: IotHubGateway

    def create_hub(self, name: str, home: str, secondary: str, devices: int) -> HubRef: ...
    def fail_next_operation(self, name: str, code: str, message: str) -> None: ...
    def throttle_next_poll(self, retry_after: float) -> None: ...
    def lose_next_start_answer(self) -> None: ...
    def start_requests(self) -> int: ...


class AzureWorld:
    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.clock = FakeClock()
        self.arm = ArmEmulator(rsps, self.clock)
        self.gateway: IotHubGateway = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION],
                                          clock=self.clock)

    def create_hub(self, name: str, home: str, secondary: str, devices: int) -> HubRef:
        return self.arm.add_hub(name, home, secondary, devices, resource_group=f"rg-{name}")

    def fail_next_operation(self, name: str, code: str, message: str) -> None:
        self.arm.fail_next_operation(name, code, message)

    def throttle_next_poll(self, retry_after: float) -> None:
        self.arm.throttle_next_poll(retry_after)

    def lose_next_start_answer(self) -> None:
        self.arm.lose_next_start_answer(reached_azure=True)

    def start_requests(self) -> int:
        return self.arm.requests["failover"]


class SimulatedWorld:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sim = SimulatedIotHubGateway(self.clock)
        self.gateway: IotHubGateway = self.sim

    def create_hub(self, name: str, home: str, secondary: str, devices: int) -> HubRef:
        return self.sim.add_hub(name, home, devices, subscription_id=SUBSCRIPTION,
                                resource_group=f"rg-{name}", secondary=secondary)

    def fail_next_operation(self, name: str, code: str, message: str) -> None:
        self.sim.inject(name, fail_next_with=(code, message))

    def throttle_next_poll(self, retry_after: float) -> None:
        self.sim.inject(throttle_polls=1, retry_after=retry_after)

    def lose_next_start_answer(self) -> None:
        self.sim.inject(timeout_on_start=True)

    def start_requests(self) -> int:
        return self.sim.calls["start_failover"]


@pytest.fixture(params=["azure", "simulated"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "azure":
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            yield AzureWorld(rsps)
    else:
        yield SimulatedWorld()


def test_a_new_hub_runs_at_home_and_would_fail_over_to_its_pair(world: World) -> None:
    ref = world.create_hub("contoso-prod-weu", "West Europe", "North Europe", 100_000)

    hub = world.gateway.get_state(ref)

    assert hub.ref == ref
    assert hub.home_region == "westeurope"
    assert (hub.active_region, hub.target_region) == ("West Europe", "North Europe")
    assert (hub.state, hub.provisioning_state) == ("Active", "Succeeded")
    assert hub.next_kind is OperationKind.FAILOVER
    assert hub.device_count == 100_000
    assert hub.host_name == "contoso-prod-weu.azure-devices.net"
    assert (hub.event_hub_endpoint or "").startswith("sb://")


def test_hubs_are_listed_and_resolved_by_name_in_any_case(world: World) -> None:
    weu = world.create_hub("contoso-prod-weu", "West Europe", "North Europe", 1_000)
    wus2 = world.create_hub("fabrikam-telemetry-wus2", "West US 2", "West Central US", 2_000)

    listed = world.gateway.list_hubs()

    assert {h.ref for h in listed} == {weu, wus2}
    assert all(h.device_count is None for h in listed)
    assert world.gateway.resolve("FABRIKAM-telemetry-WUS2") == wus2


def test_an_unknown_hub_is_not_found(world: World) -> None:
    world.create_hub("contoso-prod-weu", "West Europe", "North Europe", 1_000)
    ghost = HubRef("ghost-hub", SUBSCRIPTION, "rg-ghost")

    with pytest.raises(HubNotFound):
        world.gateway.resolve("ghost-hub")
    with pytest.raises(HubNotFound):
        world.gateway.get_state(ghost)
    with pytest.raises(HubNotFound):
        world.gateway.start_failover(ghost, "North Europe")


def test_failover_and_failback_complete_and_swap_the_roles(world: World) -> None:
    ref = world.create_hub("contoso-prod-weu", "West Europe", "North Europe", 100_000)
    gateway = world.gateway
    before = gateway.get_state(ref)

    handle = gateway.start_failover(ref, before.target_region)
    world.clock.advance(A_MINUTE)
    assert gateway.poll(ref, handle).state is OperationState.RUNNING
    assert not gateway.get_state(ref).is_ready
    world.clock.advance(LONG_ENOUGH)
    assert gateway.poll(ref, handle).state is OperationState.SUCCEEDED

    away = gateway.get_state(ref)
    assert (away.active_region, away.target_region) == ("North Europe", "West Europe")
    assert away.is_ready and away.next_kind is OperationKind.FAILBACK
    assert away.event_hub_endpoint != before.event_hub_endpoint

    back_handle = gateway.start_failover(ref, away.target_region)
    world.clock.advance(LONG_ENOUGH)
    assert gateway.poll(ref, back_handle).state is OperationState.SUCCEEDED

    home = gateway.get_state(ref)
    assert (home.active_region, home.target_region) == ("West Europe", "North Europe")
    assert home.next_kind is OperationKind.FAILOVER
    assert home.event_hub_endpoint not in (before.event_hub_endpoint, away.event_hub_endpoint)
    assert world.start_requests() == 2


def test_a_second_start_while_one_runs_is_a_conflict(world: World) -> None:
    ref = world.create_hub("busy-hub", "UK South", "UK West", 10_000)
    world.gateway.start_failover(ref, "UK West")

    with pytest.raises(OperationConflict) as conflict:
        world.gateway.start_failover(ref, "UK West")

    assert conflict.value.code == "IotHubNotActive"


def test_only_the_paired_region_is_accepted(world: World) -> None:
    ref = world.create_hub("paired-hub", "East US", "West US", 10_000)

    with pytest.raises(GatewayError) as refused:
        world.gateway.start_failover(ref, "Japan East")

    assert refused.value.code == "InvalidFailoverRegion"
    assert world.gateway.get_state(ref).is_ready


def test_a_failed_operation_keeps_the_hub_at_home_and_says_why(world: World) -> None:
    ref = world.create_hub("unlucky-hub", "Southeast Asia", "East Asia", 10_000)
    world.fail_next_operation("unlucky-hub", "FailoverFailed", "Secondary region unavailable.")

    handle = world.gateway.start_failover(ref, "East Asia")
    world.clock.advance(LONG_ENOUGH)
    poll = world.gateway.poll(ref, handle)

    assert poll.state is OperationState.FAILED
    assert (poll.error_code, poll.error_message) == ("FailoverFailed",
                                                     "Secondary region unavailable.")
    hub = world.gateway.get_state(ref)
    assert hub.is_ready and hub.active_region == "Southeast Asia"


def test_a_throttled_poll_says_when_to_come_back(world: World) -> None:
    ref = world.create_hub("hot-hub", "West US 2", "West Central US", 10_000)
    handle = world.gateway.start_failover(ref, "West Central US")
    world.throttle_next_poll(retry_after=42)

    with pytest.raises(Throttled) as throttled:
        world.gateway.poll(ref, handle)

    assert throttled.value.retry_after == 42
    assert world.gateway.poll(ref, handle).state is OperationState.RUNNING


def test_a_start_whose_answer_is_lost_is_followed_not_repeated(world: World) -> None:
    ref = world.create_hub("contoso-prod-weu", "West Europe", "North Europe", 10_000)
    world.lose_next_start_answer()

    handle = world.gateway.start_failover(ref, "North Europe")
    world.clock.advance(A_MINUTE)
    assert world.gateway.poll(ref, handle).state is OperationState.RUNNING
    world.clock.advance(LONG_ENOUGH)

    assert world.gateway.poll(ref, handle).state is OperationState.SUCCEEDED
    assert world.gateway.get_state(ref).active_region == "North Europe"
    assert world.start_requests() == 1
