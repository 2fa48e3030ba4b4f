"""Azure's Activity Log through the real azure-mgmt-monitor SDK (ARM emulated by ``responses``),
and the simulated fleet's: both tell the bot who failed a hub over, when, and how it ended."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from _arm_emulator import BOT_CALLER, ArmEmulator
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential

from bot.domain.clock import FakeClock
from bot.domain.history import Outcome
from bot.hubs.activity import CachedActivityLog, InvalidatingGateway
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.azure_activity import AzureActivityLog
from bot.hubs.gateway import Forbidden, Throttled
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

DAY = timedelta(hours=24)


@pytest.fixture
def reader(credential: StaticTokenCredential, clock: FakeClock) -> AzureActivityLog:
    return AzureActivityLog(credential, clock=clock)


def test_an_outside_failover_and_the_bots_own_are_read_with_caller_tool_and_outcome(
        arm: ArmEmulator, gateway: AzureIotHubGateway, reader: AzureActivityLog,
        clock: FakeClock, rsps: responses.RequestsMock) -> None:
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe")
    arm.outside_failover("contoso-prod-weu", caller="oncall@contoso.com",
                         ago=timedelta(minutes=90))  # took 10 min: ended 80 min ago
    clock.advance(timedelta(minutes=5))
    gateway.start_failover(ref, "West Europe")  # the bot fails it back; still running

    operations = reader.failover_operations(ref, clock.now() - DAY)

    assert [(o.caller, o.client, o.outcome) for o in operations] == [
        ("oncall@contoso.com", "Azure portal", Outcome.SUCCEEDED),
        (BOT_CALLER, None, Outcome.RUNNING)]
    outside = operations[0]
    assert outside.started_at == clock.now() - timedelta(minutes=95)
    assert outside.ended_at == outside.started_at + timedelta(minutes=10)
    sent = [c.request for c in rsps.calls if "eventtypes" in (c.request.url or "")][-1]
    query = parse_qs(urlparse(sent.url).query)
    assert query["api-version"] == ["2015-04-01"]
    since = (clock.now() - DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert query["$filter"] == [
        f"eventTimestamp ge '{since}' and resourceUri eq '/subscriptions/{SUBSCRIPTION}/"
        "resourceGroups/myResourceGroup/providers/Microsoft.Devices/IotHubs/contoso-prod-weu'"]


def test_operations_before_the_window_and_on_other_hubs_are_left_out(
        arm: ArmEmulator, reader: AzureActivityLog, clock: FakeClock) -> None:
    ref = arm.add_hub("hub-a", "East US", "West US")
    arm.add_hub("hub-b", "East US", "West US")
    arm.outside_failover("hub-a", caller="old@contoso.com", ago=timedelta(hours=30))
    arm.outside_failover("hub-b", caller="other@contoso.com", ago=timedelta(hours=1))

    assert reader.failover_operations(ref, clock.now() - DAY) == []


def test_no_permission_is_forbidden_and_throttling_says_when_to_come_back(
        arm: ArmEmulator, reader: AzureActivityLog, clock: FakeClock) -> None:
    ref = arm.add_hub("hub-a", "East US", "West US")
    arm.answer_next_activity_read_with(
        403, "AuthorizationFailed", "The client 'bot' does not have authorization to perform "
        "action 'Microsoft.Insights/eventtypes/values/read' over scope '/subscriptions/x'.")
    arm.answer_next_activity_read_with(429, "TooManyRequests", "Too many requests.")

    with pytest.raises(Forbidden) as denied:
        reader.failover_operations(ref, clock.now() - DAY)
    with pytest.raises(Throttled) as throttled:
        reader.failover_operations(ref, clock.now() - DAY)

    assert denied.value.permission == "Microsoft.Insights/eventtypes/values/read"
    assert throttled.value.retry_after == 30


def test_the_cache_answers_within_its_ttl_and_forgets_a_hub_the_bot_starts_on(
        arm: ArmEmulator, gateway: AzureIotHubGateway, reader: AzureActivityLog,
        clock: FakeClock) -> None:
    ref = arm.add_hub("hub-a", "East US", "West US")
    cache = CachedActivityLog(reader, clock, ttl=timedelta(seconds=60))
    bot_gateway = InvalidatingGateway(gateway, cache)

    cache.failover_operations(ref, clock.now() - DAY)
    clock.advance(timedelta(seconds=30))
    assert cache.failover_operations(ref, clock.now() - DAY) == []
    assert arm.requests["activity_log"] == 1

    handle = bot_gateway.start_failover(ref, "West US")
    assert len(cache.failover_operations(ref, clock.now() - DAY)) == 1
    assert arm.requests["activity_log"] == 2

    clock.advance(timedelta(minutes=10))  # Azure finishes; the bot's poll sees it
    bot_gateway.poll(ref, handle)
    [done] = cache.failover_operations(ref, clock.now() - DAY)
    assert done.outcome is Outcome.SUCCEEDED and arm.requests["activity_log"] == 3

    clock.advance(timedelta(seconds=61))
    cache.failover_operations(ref, clock.now() - DAY)
    assert arm.requests["activity_log"] == 4


def test_the_azure_gateway_reads_the_activity_log_with_its_own_credential(
        arm: ArmEmulator, credential: StaticTokenCredential, clock: FakeClock) -> None:
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION], cloud="AzureCloud", clock=clock)
    ref = arm.add_hub("hub-a", "East US", "West US")
    arm.outside_failover("hub-a", caller="sre@contoso.com", ago=timedelta(hours=2))

    [operation] = gateway.failover_operations(ref, clock.now() - DAY)

    assert operation.caller == "sre@contoso.com"
    assert set(credential.scopes) == {("https://management.azure.com/.default",)}


def test_the_simulated_fleet_records_outside_and_own_operations_alike(
        clock: FakeClock) -> None:
    sim = SimulatedIotHubGateway(clock)
    ref = sim.add_hub("hub-a", "East US", 1000)
    sim.outside_failover("hub-a", caller="oncall@contoso.com", ago=timedelta(hours=2))
    sim.start_failover(ref, "East US")

    operations = sim.failover_operations(ref, clock.now() - DAY)

    assert [(o.caller, o.client, o.outcome) for o in operations] == [
        ("oncall@contoso.com", "Azure portal", Outcome.SUCCEEDED),
        ("9d3f1a52-7c1e-4f0a-b6f4-5e2a8c0d1b7e", None, Outcome.RUNNING)]


def test_the_sandbox_fleet_shows_a_hub_failed_over_in_the_portal_an_hour_ago(
        clock: FakeClock) -> None:
    sim = SimulatedIotHubGateway.default_fleet(clock, with_history=True)
    ref = sim.resolve("contoso-prod-neu")

    [operation] = sim.failover_operations(ref, clock.now() - DAY)

    assert sim.get_state(ref).active_region == "West Europe"
    assert operation.started_at == clock.now() - timedelta(hours=1)
    assert (operation.caller, operation.client) == ("oncall@contoso.com", "Azure portal")


def test_bootstrap_reads_the_activity_log_through_a_cache_the_bots_starts_invalidate(
        clock: FakeClock, tmp_path) -> None:
    from bot.bootstrap import bootstrap
    from bot.config import load_settings
    from bot.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    sim = SimulatedIotHubGateway(clock)
    ref = sim.add_hub("hub-a", "East US", 1000)
    components = bootstrap(load_settings(database_url=url, bot_activity_log_ttl="5m"),
                           clock=clock, gateway=sim)
    activity = components.service.activity
    assert isinstance(activity, CachedActivityLog)

    activity.failover_operations(ref, clock.now() - DAY)
    activity.failover_operations(ref, clock.now() - DAY)
    assert sim.calls["activity_log"] == 1
    components.gateway.start_failover(ref, "West US")
    assert len(activity.failover_operations(ref, clock.now() - DAY)) == 1
    assert sim.calls["activity_log"] == 2


def test_every_page_is_read_and_a_caller_missing_from_the_event_comes_from_its_claims(
        rsps: responses.RequestsMock, reader: AzureActivityLog, clock: FakeClock) -> None:
    arm = ArmEmulator(rsps, clock, page_size=2)
    ref = arm.add_hub("hub-a", "East US", "West US")
    for hours_ago in (9, 6, 3):  # 3 operations, 9 events: 5 pages
        arm.outside_failover("hub-a", caller="oncall@contoso.com",
                             ago=timedelta(hours=hours_ago))
    for event in arm.activity:
        event.pop("caller")
        event["claims"]["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = (
            "sre@contoso.com")

    operations = reader.failover_operations(ref, clock.now() - DAY)

    assert arm.requests["activity_log"] == 5
    assert [o.outcome for o in operations] == [Outcome.SUCCEEDED] * 3
    assert {o.caller for o in operations} == {"sre@contoso.com"}
