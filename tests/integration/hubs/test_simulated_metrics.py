"""The simulated fleet's Azure Monitor minutes and consumer restarts: what the sandbox, the
drills and the benchmarks show the bot's verification and consumer restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.consumer_results import RestartOutcome, Step
from bot.domain.consumers import (
    CONSUMERS_TAG,
    RESTART_TAG,
    Consumer,
    ConsumerKind,
    plan_sentence,
)
from bot.domain.model import HubRef
from bot.domain.timeline import Timeline
from bot.domain.verification import (
    MINUTE,
    MetricMinutes,
    Outcome,
    VerifyRules,
    floor_minute,
    judge,
    take_baseline,
)
from bot.hubs.consumers import ConsumerRestarts
from bot.hubs.gateway import Forbidden, OperationState, Throttled
from bot.hubs.hub_metrics import READ_PERMISSION, HubMetrics
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

DEVICES = 40_000
SPEEDS = [1.0, 60.0]
CONSUMER_TAGS = {
    CONSUMERS_TAG: "Microsoft.Web/sites/func-telemetry,"
                   "Microsoft.StreamAnalytics/streamingjobs/asa-alerts",
    RESTART_TAG: "true",
}


def fleet(speed: float, **hub: object) -> tuple[SimulatedIotHubGateway, FakeClock, HubRef]:
    clock = FakeClock(datetime(2026, 11, 27, 9, 0, 17, tzinfo=UTC))
    sim = SimulatedIotHubGateway(clock, speed=speed)
    ref = sim.add_hub("metered-hub", "West Europe", DEVICES, **hub)  # type: ignore[arg-type]
    return sim, clock, ref


def azure_wait(sim: SimulatedIotHubGateway, clock: FakeClock, span: timedelta) -> None:
    """Let ``span`` of Azure's time pass."""
    clock.advance(span / sim.speed)


def azure_now(sim: SimulatedIotHubGateway) -> datetime:
    return sim.timeline.azure(sim.clock.now())


def move(sim: SimulatedIotHubGateway, clock: FakeClock,
         ref: HubRef) -> tuple[datetime, datetime]:
    """Fail the hub over; when it was POSTed and completed, on Azure's timeline."""
    posted = azure_now(sim)
    handle = sim.start_failover(ref, sim.get_state(ref).target_region)
    while sim.poll(ref, handle).state is OperationState.RUNNING:
        azure_wait(sim, clock, timedelta(seconds=5))
    return posted, azure_now(sim)


def read(sim: SimulatedIotHubGateway, ref: HubRef, start: datetime,
         end: datetime | None = None) -> MetricMinutes:
    return sim.metric_minutes(ref, start, end or azure_now(sim))


def values(points: MetricMinutes, start: datetime, end: datetime) -> list[tuple[float, float]]:
    """(devices, messages) of the whole minutes from ``start`` to ``end``."""
    devices, telemetry = points.devices_by_minute(), points.telemetry_by_minute()
    found = []
    for minute in sorted(devices):
        count, messages = devices[minute], telemetry[minute]
        if start <= minute < end and count is not None and messages is not None:
            found.append((count, messages))
    return found


def test_the_fleet_is_both_ports_with_azures_timeline() -> None:
    sim, clock, _ = fleet(60.0)

    assert isinstance(sim, HubMetrics) and isinstance(sim, ConsumerRestarts)
    assert sim.timeline == Timeline(origin=clock.now(), scale=60.0)


@pytest.mark.parametrize("speed", SPEEDS)
def test_before_a_move_the_minutes_hold_the_device_count(speed: float) -> None:
    sim, clock, ref = fleet(speed)
    azure_wait(sim, clock, timedelta(minutes=90))

    minutes = values(read(sim, ref, azure_now(sim) - timedelta(hours=1)),
                     azure_now(sim) - timedelta(hours=1), azure_now(sim))

    assert len(minutes) >= 57  # the hour, less the minutes Azure has not filled in yet
    assert all(0.99 * DEVICES <= count <= 1.01 * DEVICES for count, _ in minutes)
    assert len({count for count, _ in minutes}) > 10  # noise, not a flat line
    per_device = [messages / count for count, messages in minutes]
    assert all(0.98 <= rate <= 6.1 for rate in per_device)  # 1 to 6 a device a minute
    assert max(per_device) / min(per_device) < 1.03  # one rate for the hub, and noise


@pytest.mark.parametrize("speed", SPEEDS)
def test_devices_drop_during_a_move_and_reconnect_after_it(speed: float) -> None:
    sim, clock, ref = fleet(speed)
    azure_wait(sim, clock, timedelta(minutes=61))
    posted, completed = move(sim, clock, ref)
    azure_wait(sim, clock, timedelta(minutes=20))

    minutes = read(sim, ref, posted - timedelta(minutes=5))
    during = values(minutes, floor_minute(posted) + MINUTE, floor_minute(completed))
    after = values(minutes, floor_minute(completed) + MINUTE, azure_now(sim))
    settled = values(minutes, completed + 5 * MINUTE, azure_now(sim))

    assert len(during) >= 3  # a 40k-device failover takes minutes
    assert all(count < 0.01 * DEVICES and messages < 0.01 * 6 * DEVICES
               for count, messages in during)
    assert after[0][0] < 0.75 * DEVICES  # devices come back over minutes, not at once
    assert [count for count, _ in after[:4]] == sorted(count for count, _ in after[:4])
    assert settled and all(count >= 0.95 * DEVICES for count, _ in settled)
    before = values(minutes, posted - 5 * MINUTE, floor_minute(posted))
    rate = before[0][1] / before[0][0]
    assert all(messages / count == pytest.approx(rate, rel=0.03) for count, messages in settled)


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_hub_that_recovers_to_40_percent_stays_there(speed: float) -> None:
    sim, clock, ref = fleet(speed, recovers_to=0.4)
    azure_wait(sim, clock, timedelta(minutes=61))
    _, completed = move(sim, clock, ref)
    azure_wait(sim, clock, timedelta(minutes=40))

    settled = values(read(sim, ref, completed), completed + 8 * MINUTE, azure_now(sim))

    assert len(settled) > 25
    assert all(0.39 * DEVICES <= count <= 0.41 * DEVICES for count, _ in settled)


def test_the_verification_rules_see_one_hub_recover_and_the_other_not() -> None:
    rules = VerifyRules()  # 15 min, 95 % of the devices, 90 % of the telemetry
    for recovers_to, outcome in [(1.0, Outcome.VERIFIED), (0.4, Outcome.NOT_RECOVERED)]:
        sim, clock, ref = fleet(60.0, recovers_to=recovers_to)
        azure_wait(sim, clock, timedelta(minutes=70))
        posted = azure_now(sim)
        baseline = take_baseline(read(sim, ref, posted - timedelta(hours=1), posted),
                                 posted_at=posted, read_at=posted, rules=rules)
        _, completed = move(sim, clock, ref)
        azure_wait(sim, clock, rules.window + rules.metrics_delay + 2 * MINUTE)

        verdict = judge(baseline, read(sim, ref, completed), completed_at=completed,
                        now=azure_now(sim), rules=rules)

        assert verdict.outcome is outcome, (recovers_to, verdict)


@pytest.mark.parametrize("speed", SPEEDS)
def test_the_latest_minutes_are_partial_and_the_next_absent(speed: float) -> None:
    sim, clock, ref = fleet(speed)
    azure_wait(sim, clock, timedelta(minutes=30))
    now = azure_now(sim)  # 09:30:17 on Azure's timeline at either speed
    assert now == datetime(2026, 11, 27, 9, 30, 17, tzinfo=UTC)

    early = read(sim, ref, now - timedelta(minutes=3), now + timedelta(minutes=5))
    azure_wait(sim, clock, timedelta(minutes=3))
    later = read(sim, ref, now - timedelta(minutes=3), now)

    starts = [p.start for p in early.devices]
    assert starts == [datetime(2026, 11, 27, 9, m, tzinfo=UTC) for m in (27, 28, 29, 30)]
    assert [p.start for p in early.telemetry] == starts  # 09:31 on: not begun, absent
    devices, telemetry = early.devices_by_minute(), early.telemetry_by_minute()
    whole, ended, running = starts[1], starts[2], starts[3]
    assert devices[whole] is not None  # ended 1 min 17 s ago: all in
    assert devices[ended] is None and devices[running] is None  # an Average needs it all
    total = later.telemetry_by_minute()
    assert telemetry[whole] == total[whole]
    assert 0 < telemetry[running] < telemetry[ended] < total[ended]  # type: ignore[operator]
    assert telemetry[ended] == pytest.approx(total[ended] * 77 / 120, rel=0.01)  # type: ignore[operator]
    assert later.devices_by_minute()[ended] is not None


def test_speed_60_puts_a_move_on_azures_minutes() -> None:
    sim, clock, ref = fleet(60.0)
    start = clock.now()
    clock.advance(timedelta(minutes=2))  # two real minutes: two Azure hours
    posted, completed = move(sim, clock, ref)
    took_real = clock.now() - start - timedelta(minutes=2)

    assert posted == datetime(2026, 11, 27, 11, 0, 17, tzinfo=UTC)
    assert completed - posted == pytest.approx(took_real * 60, abs=timedelta(seconds=5))
    assert sim.timeline.real(posted) == start + timedelta(minutes=2)
    azure_wait(sim, clock, timedelta(minutes=10))
    devices = read(sim, ref, posted - 3 * MINUTE).devices_by_minute()
    last_up, mixed, down = (floor_minute(posted) + i * MINUTE for i in (-1, 0, 1))
    assert devices[last_up] > 0.99 * DEVICES  # type: ignore[operator]
    assert 0.2 * DEVICES < devices[mixed] < 0.5 * DEVICES  # type: ignore[operator]
    assert devices[down] < 0.01 * DEVICES  # type: ignore[operator]


def test_the_same_minutes_read_the_same_and_a_span_is_rounded_to_minutes() -> None:
    sim, clock, ref = fleet(1.0)
    twin, twin_clock, twin_ref = fleet(1.0)
    for s, c in ((sim, clock), (twin, twin_clock)):
        azure_wait(s, c, timedelta(minutes=20))

    span = (datetime(2026, 11, 27, 9, 3, 40, tzinfo=UTC),
            datetime(2026, 11, 27, 9, 10, 5, tzinfo=UTC))
    once, again = read(sim, ref, *span), read(sim, ref, *span)

    assert once == again == read(twin, twin_ref, *span)
    assert [p.start.minute for p in once.devices] == list(range(3, 11))
    on_the_minute = floor_minute(span[0])
    assert read(sim, ref, on_the_minute, on_the_minute) == MetricMinutes()
    assert sim.metric_reads["metered-hub"] == 3


def test_a_hub_without_devices_has_empty_minutes() -> None:
    sim, clock, _ = fleet(1.0)
    idle = sim.add_hub("idle-hub", "West Europe", 0)
    azure_wait(sim, clock, timedelta(minutes=10))

    minutes = read(sim, idle, azure_now(sim) - 5 * MINUTE)

    assert minutes.devices and all(p.value is None for p in minutes.devices)
    assert all(p.value is None for p in minutes.telemetry)


def test_forbidden_reads_name_the_permission_until_cleared() -> None:
    sim, clock, ref = fleet(1.0)
    other = sim.add_hub("other-hub", "West Europe", 100)
    azure_wait(sim, clock, timedelta(minutes=10))
    sim.inject("metered-hub", metrics_forbidden=True)

    for _ in range(2):
        with pytest.raises(Forbidden) as refused:
            read(sim, ref, azure_now(sim) - 5 * MINUTE)
        assert refused.value.code == "AuthorizationFailed"
        assert refused.value.permission == READ_PERMISSION
        assert f"perform action '{READ_PERMISSION}'" in refused.value.message
        assert "/IotHubs/metered-hub/" in refused.value.message
    assert read(sim, other, azure_now(sim) - 5 * MINUTE).devices
    sim.clear_faults("metered-hub")
    assert read(sim, ref, azure_now(sim) - 5 * MINUTE).devices
    assert sim.metric_reads == {"metered-hub": 3, "other-hub": 1}


def test_throttled_reads_say_when_to_come_back_then_answer() -> None:
    sim, clock, ref = fleet(1.0)
    azure_wait(sim, clock, timedelta(minutes=10))
    sim.inject(throttle_metrics=2, retry_after=12.0)

    for _ in range(2):
        with pytest.raises(Throttled) as throttled:
            read(sim, ref, azure_now(sim) - 5 * MINUTE)
        assert throttled.value.retry_after == 12.0
        assert throttled.value.code == "TooManyRequests"

    assert read(sim, ref, azure_now(sim) - 5 * MINUTE).devices
    assert sim.metric_reads["metered-hub"] == 3


# -- consumers -----------------------------------------------------------------------------


def test_consumers_come_from_the_tags_with_the_priority() -> None:
    sim, _, ref = fleet(1.0, tags=CONSUMER_TAGS, priority=2)
    tagged = sim.add_hub("tagged-hub", "West Europe", 10,
                         tags={"failover-priority": "1", CONSUMERS_TAG: "Microsoft.Web/sites/x1"})
    plain = sim.add_hub("plain-hub", "West Europe", 10)

    state = sim.get_state(ref)
    listed = {hub.name: hub for hub in sim.list_hubs()}

    assert state.consumers is not None and state.priority == 2
    assert plan_sentence(state.consumers) == (
        "then restart func-telemetry (Function app) and asa-alerts (Stream Analytics job)")
    assert [c.resource_id for c in state.consumers.to_restart] == [
        f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
        "/providers/Microsoft.Web/sites/func-telemetry",
        f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
        "/providers/Microsoft.StreamAnalytics/streamingjobs/asa-alerts"]
    assert listed["metered-hub"].consumers == state.consumers
    assert sim.get_state(tagged).priority == 1
    assert plan_sentence(sim.get_state(tagged).consumers) == (  # type: ignore[arg-type]
        "consumers to restart by hand: x1 (Function app)")
    assert sim.get_state(plain).consumers is not None
    assert plan_sentence(sim.get_state(plain).consumers) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("speed", SPEEDS)
def test_each_consumer_restarts_once_in_azures_time(speed: float) -> None:
    sim, clock, ref = fleet(speed, tags=CONSUMER_TAGS)
    consumers = sim.get_state(ref).consumers
    assert consumers is not None
    function_app, job = consumers.to_restart

    started = clock.now()
    results = [sim.restart_consumer(c) for c in (function_app, job)]

    assert [r.outcome for r in results] == [RestartOutcome.RESTARTED] * 2
    assert [r.consumer for r in results] == [function_app, job]
    app_took, job_took = (r.seconds for r in results)  # in Azure's seconds
    assert 20 <= app_took <= 40 and 90 <= job_took <= 180
    # The caller waited that long on its own clock, speed times faster.
    waited = (clock.now() - started).total_seconds()
    assert waited == pytest.approx((app_took + job_took) / speed)
    assert results[0].requests == 1 and results[1].requests > 2  # stop, start and looks
    assert "restarted asa-alerts (Stream Analytics job) in" in results[1].sentence()
    assert sim.consumer_restarts == {function_app.resource_id: 1, job.resource_id: 1}


def test_an_unknown_consumer_is_not_found() -> None:
    sim, clock, ref = fleet(1.0, tags=CONSUMER_TAGS)
    stranger = Consumer(ConsumerKind.STREAM_ANALYTICS, ref.subscription_id,
                        "rg-elsewhere", "asa-alerts")
    started = clock.now()

    result = sim.restart_consumer(stranger)

    assert (result.outcome, result.status, result.code) == (
        RestartOutcome.FAILED, 404, "ResourceNotFound")
    assert result.step is Step.STOP
    assert "'Microsoft.StreamAnalytics/streamingjobs/asa-alerts' under resource group " \
           "'rg-elsewhere' was not found" in (result.message or "")
    assert clock.now() == started
    assert sim.consumer_restarts[stranger.resource_id] == 1


def test_an_injected_refusal_names_the_missing_permission() -> None:
    sim, _, ref = fleet(1.0, tags=CONSUMER_TAGS)
    consumers = sim.get_state(ref).consumers
    assert consumers is not None
    function_app, job = consumers.to_restart
    sim.inject("metered-hub", consumer_fails="ASA-alerts")

    refused, restarted = sim.restart_consumer(job), sim.restart_consumer(function_app)

    assert (refused.outcome, refused.status, refused.code, refused.step) == (
        RestartOutcome.FAILED, 403, "AuthorizationFailed", Step.STOP)
    assert refused.permission == "Microsoft.StreamAnalytics/streamingjobs/stop/action"
    assert refused.permission in (refused.message or "")
    assert restarted.ok
    sim.clear_all_faults()
    assert sim.restart_consumer(job).ok
    assert sim.consumer_restarts[job.resource_id] == 2


def test_the_default_fleet_has_a_consumer_hub_and_a_hub_that_does_not_recover() -> None:
    clock = FakeClock()
    sim = SimulatedIotHubGateway.default_fleet(clock, speed=60.0)
    demo = sim.get_state(sim.resolve("contoso-prod-weu")).consumers
    assert demo is not None
    assert [c.label for c in demo.to_restart] == [
        "func-telemetry (Function app)", "asa-alerts (Stream Analytics job)"]
    assert all(sim.restart_consumer(c).ok for c in demo.to_restart)

    partial = sim.resolve("wingtip-edge-weu")
    clock.advance(timedelta(minutes=2))
    _, completed = move(sim, clock, partial)
    azure_wait(sim, clock, timedelta(minutes=20))
    devices = [count for count, _ in values(read(sim, partial, completed),
                                             completed + 10 * MINUTE, azure_now(sim))]
    assert devices and all(count < 0.45 * 8_200 for count in devices)
