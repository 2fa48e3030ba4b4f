"""The simulator's own promises: realistic durations, Azure's limits, faults, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.domain.regions import same_region
from bot.domain.rules import HUB_NAME, estimate_duration
from bot.hubs.gateway import (
    Forbidden,
    GatewayError,
    HubNotFound,
    LimitReached,
    OperationConflict,
    OperationState,
    Throttled,
    TransientError,
)
from failover_sandbox.fleet._geo_pairs import paired_region
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

STEP = timedelta(seconds=1)


def run_to_end(sim: SimulatedIotHubGateway, ref: HubRef, handle: str,
               step: timedelta = STEP) -> timedelta:
    """Poll every ``step`` of clock time until the operation ends; return how long it took."""
    started = sim.clock.now()
    clock = sim.clock
    assert isinstance(clock, FakeClock)
    for _ in range(100_000):
        if sim.poll(ref, handle).state is not OperationState.RUNNING:
            return clock.now() - started
        clock.advance(step)
    raise AssertionError("the operation never ended")


def fail_over(sim: SimulatedIotHubGateway, ref: HubRef) -> timedelta:
    handle = sim.start_failover(ref, sim.get_state(ref).target_region)
    return run_to_end(sim, ref, handle, step=timedelta(seconds=10))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> SimulatedIotHubGateway:
    return SimulatedIotHubGateway(clock)


@pytest.mark.parametrize("devices", [1_000, 100_000, 2_000_000])
@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_duration_follows_the_device_count_and_the_speed(
        clock: FakeClock, devices: int, speed: float) -> None:
    sim = SimulatedIotHubGateway(clock, speed=speed)
    ref = sim.add_hub("timed-hub", "West Europe", devices)
    handle = sim.start_failover(ref, "North Europe")

    took = run_to_end(sim, ref, handle)

    expected = estimate_duration(devices) / speed
    assert expected * 0.85 - STEP <= took <= expected * 1.15 + STEP


def test_a_bigger_hub_takes_longer(sim: SimulatedIotHubGateway) -> None:
    small = sim.add_hub("small-hub", "East US", 1_000)
    big = sim.add_hub("big-hub", "East US", 2_000_000)

    assert fail_over(sim, big) > 2 * fail_over(sim, small)


def test_the_same_seed_gives_the_same_durations(clock: FakeClock) -> None:
    def duration(seed: int) -> timedelta:
        sim = SimulatedIotHubGateway(FakeClock(clock.now()), seed=seed)
        return fail_over(sim, sim.add_hub("seeded-hub", "UK South", 500_000))

    assert duration(1) == duration(1)


def test_the_default_fleet_is_realistic(clock: FakeClock) -> None:
    sim = SimulatedIotHubGateway.default_fleet(clock, speed=60)

    hubs = [sim.get_state(h.ref) for h in sim.list_hubs()]

    assert len(hubs) >= 5
    assert {"contoso-prod-weu", "fabrikam-telemetry-wus2"} <= {h.name for h in hubs}
    for hub in hubs:
        assert same_region(paired_region(hub.active_region), hub.target_region)
        assert hub.is_ready
        assert 1_000 <= (hub.device_count or 0) <= 2_000_000


def test_a_generated_fleet_has_hundreds_of_distinct_valid_hubs(
        sim: SimulatedIotHubGateway) -> None:
    refs = sim.generate_fleet(600)

    assert len({r.name for r in refs}) == 600
    assert all(HUB_NAME.fullmatch(r.name) for r in refs)
    assert sim.resolve(refs[421].name) == refs[421]
    states = [sim.get_state(r) for r in refs]
    assert len({s.home_region for s in states}) > 10
    assert min(s.device_count or 0 for s in states) >= 1_000
    assert max(s.device_count or 0 for s in states) <= 2_000_000


def test_two_failovers_and_two_failbacks_a_day_then_limit_reached(
        sim: SimulatedIotHubGateway, clock: FakeClock) -> None:
    ref = sim.add_hub("busy-week-hub", "North Europe", 10_000)
    first_start = clock.now()
    for _ in range(2):
        fail_over(sim, ref)  # failover
        clock.advance(timedelta(hours=2))
        fail_over(sim, ref)  # failback
        clock.advance(timedelta(hours=2))

    with pytest.raises(LimitReached) as limit:
        sim.start_failover(ref, "West Europe")
    assert "limit of 2 failovers in 24 hours" in limit.value.message

    clock.set(first_start + timedelta(hours=24, seconds=1))
    fail_over(sim, ref)  # the first failover has left the window
    clock.advance(timedelta(hours=1, minutes=1))  # past the cool-down, both failbacks in window
    with pytest.raises(LimitReached, match="limit of 2 failbacks"):
        sim.start_failover(ref, "North Europe")


def test_a_failback_must_wait_about_an_hour_after_the_failover(
        sim: SimulatedIotHubGateway, clock: FakeClock) -> None:
    ref = sim.add_hub("eager-hub", "East Asia", 10_000)
    fail_over(sim, ref)

    clock.advance(timedelta(minutes=50))
    with pytest.raises(LimitReached) as too_soon:
        sim.start_failover(ref, "East Asia")
    assert too_soon.value.code == "FailbackNotAllowed"

    clock.advance(timedelta(minutes=11))
    handle = sim.start_failover(ref, "East Asia")
    assert sim.poll(ref, handle).state is OperationState.RUNNING


def test_a_hub_that_is_not_active_cannot_fail_over(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("sleepy-hub", "Japan East", 1_000)
    sim.set_hub_state("sleepy-hub", "Suspended")

    with pytest.raises(OperationConflict, match="Suspended"):
        sim.start_failover(ref, "Japan West")


def test_an_unknown_handle_is_not_found(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("some-hub", "Japan East", 1_000)

    with pytest.raises(HubNotFound):
        sim.poll(ref, "sim:feedfacefeedface")


# -- faults --------------------------------------------------------------------------


def test_throttled_polls_then_the_answer(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("hot-hub", "Korea Central", 1_000)
    handle = sim.start_failover(ref, "Korea South")
    sim.inject("hot-hub", throttle_polls=2, retry_after=12)

    for _ in range(2):
        with pytest.raises(Throttled) as throttled:
            sim.poll(ref, handle)
        assert throttled.value.retry_after == 12
    assert sim.poll(ref, handle).state is OperationState.RUNNING


def test_faults_for_one_hub_leave_the_others_alone(sim: SimulatedIotHubGateway) -> None:
    ill = sim.add_hub("ill-hub", "France Central", 1_000)
    well = sim.add_hub("well-hub", "France Central", 1_000)
    sim.inject("ill-hub", transient_errors=1)

    assert sim.get_state(well).is_ready
    with pytest.raises(TransientError):
        sim.get_state(ill)
    assert sim.get_state(ill).is_ready


def test_a_denied_start_names_the_permission(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("guarded-hub", "Canada Central", 1_000)
    sim.inject(deny="Microsoft.Devices/IotHubs/failover/action")

    with pytest.raises(Forbidden) as denied:
        sim.start_failover(ref, "Canada East")

    assert denied.value.permission == "Microsoft.Devices/IotHubs/failover/action"
    assert sim.get_state(ref).is_ready


def test_a_dropped_start_is_reported_not_started_and_can_be_retried(
        sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("dropped-hub", "UAE North", 1_000)
    sim.inject(drop_start=True)

    with pytest.raises(TransientError, match="NOT started"):
        sim.start_failover(ref, "UAE Central")

    assert sim.get_state(ref).is_ready
    handle = sim.start_failover(ref, "UAE Central")
    assert sim.poll(ref, handle).state is OperationState.RUNNING


def test_a_slow_start_keeps_the_hub_looking_active_for_a_while(
        sim: SimulatedIotHubGateway, clock: FakeClock) -> None:
    ref = sim.add_hub("slow-hub", "Norway East", 1_000)
    sim.inject(slow_start=30)

    sim.start_failover(ref, "Norway West")
    assert sim.get_state(ref).is_ready
    clock.advance(31)
    assert sim.get_state(ref).state == "FailingOver"


def test_a_lost_answer_during_a_slow_start_looks_not_started_but_azure_has_it(
        sim: SimulatedIotHubGateway) -> None:
    """The danger the Azure gateway guards against: its retry meets a 409, never a 2nd run."""
    ref = sim.add_hub("unlucky-hub", "Germany West Central", 1_000)
    sim.inject(timeout_on_start=True, slow_start=30)

    with pytest.raises(TransientError):
        sim.start_failover(ref, "Germany North")
    with pytest.raises(OperationConflict):
        sim.start_failover(ref, "Germany North")


def test_calls_count_the_azure_requests_of_one_failover(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("counted-hub", "South Africa North", 1_000)
    sim.get_state(ref)
    handle = sim.start_failover(ref, "South Africa West")
    run_to_end(sim, ref, handle, step=timedelta(minutes=1))

    assert sim.calls["start_failover"] == 1
    assert (sim.calls["get_state"], sim.calls["get_stats"]) == (1, 1)
    assert 8 <= sim.calls["poll"] <= 11  # one a minute for a ~9-minute failover


def test_only_the_paired_region_is_accepted(sim: SimulatedIotHubGateway) -> None:
    with pytest.raises(ValueError, match="no paired region"):
        sim.add_hub("lonely-hub", "Qatar Central", 1_000)
    ref = sim.add_hub("paired-hub", "Australia East", 1_000)
    with pytest.raises(GatewayError, match="not the paired region"):
        sim.start_failover(ref, "Japan East")


# -- thread safety -------------------------------------------------------------------


def test_concurrent_starts_on_one_hub_let_exactly_one_through(
        sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("contested-hub", "Central India", 1_000)

    def start() -> str:
        try:
            return sim.start_failover(ref, "South India")
        except OperationConflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(lambda _: start(), range(64)))

    assert outcomes.count("conflict") == 63
    assert sim.calls["start_failover"] == 64


def test_a_pool_drives_hundreds_of_failovers_to_completion(
        sim: SimulatedIotHubGateway, clock: FakeClock) -> None:
    refs = sim.generate_fleet(300)
    with ThreadPoolExecutor(max_workers=32) as pool:
        handles = list(pool.map(
            lambda r: sim.start_failover(r, sim.get_state(r, with_device_count=False)
                                         .target_region), refs))
        clock.advance(timedelta(minutes=3))
        early = list(pool.map(sim.poll, refs, handles))
        clock.advance(timedelta(hours=2))
        late = list(pool.map(sim.poll, refs, handles))

    assert len(set(handles)) == 300 and sim.calls["start_failover"] == 300
    assert all(p.state is OperationState.RUNNING for p in early)
    assert all(p.state is OperationState.SUCCEEDED for p in late)
    assert all(sim.get_state(r).next_kind is OperationKind.FAILBACK for r in refs)


def test_injected_faults_add_up_and_can_be_cleared(sim: SimulatedIotHubGateway) -> None:
    ref = sim.add_hub("noisy-hub", "Switzerland North", 1_000)
    handle = sim.start_failover(ref, "Switzerland West")
    sim.inject(throttle_polls=1)
    sim.inject("noisy-hub", throttle_polls=1)
    sim.inject(deny="Microsoft.Devices/IotHubs/failover/action")

    for _ in range(2):  # the hub's own, then the fleet-wide one
        with pytest.raises(Throttled):
            sim.poll(ref, handle)
    assert sim.poll(ref, handle).state is OperationState.RUNNING

    other = sim.add_hub("other-hub", "Switzerland North", 1_000)
    with pytest.raises(Forbidden):
        sim.start_failover(other, "Switzerland West")
    sim.clear_faults()
    assert sim.start_failover(other, "Switzerland West")
