"""The Azure gateway through the real azure-mgmt-iothub SDK, with ARM emulated by ``responses``."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
import responses
from _arm_emulator import ArmEmulator
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.hubs.azure import AzureIotHubGateway, authority_for
from bot.hubs.gateway import (
    AmbiguousHub,
    Forbidden,
    GatewayError,
    HubNotFound,
    LimitReached,
    OperationConflict,
    OperationState,
    Throttled,
    TransientError,
)

TEN_MINUTES = timedelta(minutes=10)


def test_reads_a_hub_with_its_regions_endpoint_and_device_count(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("contoso-prod-wus", "West US", "East US", devices=1234)

    hub = gateway.get_state(ref)

    assert (hub.home_region, hub.active_region, hub.target_region) == (
        "westus", "West US", "East US")
    assert hub.is_ready and hub.next_kind is OperationKind.FAILOVER
    assert hub.device_count == 1234
    assert hub.host_name == "contoso-prod-wus.azure-devices.net"
    assert hub.event_hub_endpoint == arm.hub("contoso-prod-wus").endpoint


def test_a_hubs_failover_priority_tag_orders_it_in_a_regional_batch(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("tagged", "West Europe", "North Europe",
                      tags={"failover-priority": "1", "owner": "plant-ops"})
    arm.add_hub("untagged", "West Europe", "North Europe")

    assert gateway.get_state(ref).priority == 1
    assert {h.name: h.priority for h in gateway.list_hubs()} == {"tagged": 1, "untagged": None}


def test_failover_runs_to_completion_and_the_roles_swap(
        arm: ArmEmulator, gateway: AzureIotHubGateway, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe", devices=50_000)
    before = gateway.get_state(ref)
    started_threads: list[str] = []
    thread_start = threading.Thread.start

    def record_start(thread: threading.Thread) -> None:
        started_threads.append(thread.name)
        thread_start(thread)

    monkeypatch.setattr(threading.Thread, "start", record_start)

    handle = gateway.start_failover(ref, before.target_region)

    assert not [name for name in started_threads if name.startswith("LROPoller")]
    assert handle.startswith("https://management.azure.com/subscriptions/")
    assert "/operationResults/" in handle and handle.endswith("&asyncinfo")
    # The fixture's bug (failoverRegion "testHub") is not repeated: the secondary's name is sent.
    assert arm.post_bodies == [{"failoverRegion": "North Europe"}]
    assert gateway.poll(ref, handle).state is OperationState.RUNNING
    during = gateway.get_state(ref, with_device_count=False)
    assert not during.is_ready

    clock.advance(TEN_MINUTES)
    assert gateway.poll(ref, handle).state is OperationState.SUCCEEDED

    after = gateway.get_state(ref)
    assert (after.active_region, after.target_region) == ("North Europe", "West Europe")
    assert after.home_region == "westeurope" and after.next_kind is OperationKind.FAILBACK
    assert after.event_hub_endpoint != before.event_hub_endpoint
    # One POST, no polling thread, no final GET on Location: the gateway only looks when asked.
    assert arm.requests["failover"] == 1
    assert arm.requests["operation"] == 2
    assert arm.requests["final_location"] == 0


def test_a_failed_operation_reports_azures_error_verbatim(
        arm: ArmEmulator, gateway: AzureIotHubGateway, clock: FakeClock) -> None:
    ref = arm.add_hub("hub-fails", "East US", "West US")
    arm.fail_next_operation("hub-fails", "FailoverFailed",
                            "Failover could not complete: secondary region unavailable.")

    handle = gateway.start_failover(ref, "West US")
    clock.advance(TEN_MINUTES)
    poll = gateway.poll(ref, handle)

    assert poll.state is OperationState.FAILED
    assert poll.error_code == "FailoverFailed"
    assert poll.error_message == "Failover could not complete: secondary region unavailable."
    assert gateway.get_state(ref).active_region == "East US"


def test_a_cancelled_operation_is_a_failure_with_code_canceled(
        rsps: responses.RequestsMock, gateway: AzureIotHubGateway) -> None:
    url = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/"
           "Microsoft.Devices/locations/westus/operationResults/abc?api-version=2023-06-30"
           "&asyncinfo")
    rsps.add(responses.GET, url, json={"status": "Canceled"})

    poll = gateway.poll(HubRef("h", SUBSCRIPTION, "rg"), url)

    assert (poll.state, poll.error_code) == (OperationState.FAILED, "Canceled")


def test_unknown_hub_is_not_found_with_azures_message(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    missing = HubRef("no-such-hub", SUBSCRIPTION, "myResourceGroup")

    with pytest.raises(HubNotFound) as read:
        gateway.get_state(missing)
    with pytest.raises(HubNotFound):
        gateway.start_failover(missing, "West US")

    assert read.value.code == "ResourceNotFound"
    assert "Microsoft.Devices/IotHubs/no-such-hub" in read.value.message


def test_a_second_start_while_one_runs_is_a_conflict(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("busy-hub", "UK South", "UK West")
    gateway.start_failover(ref, "UK West")

    with pytest.raises(OperationConflict) as conflict:
        gateway.start_failover(ref, "UK West")

    assert conflict.value.code == "IotHubNotActive"
    assert "not active" in conflict.value.message


def test_a_throttled_poll_says_when_to_come_back_and_does_not_sleep_or_retry(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("hot-hub", "East Asia", "Southeast Asia")
    handle = gateway.start_failover(ref, "Southeast Asia")
    arm.throttle_next_poll(retry_after=17)

    with pytest.raises(Throttled) as throttled:
        gateway.poll(ref, handle)

    assert throttled.value.retry_after == 17
    assert throttled.value.code == "TooManyRequests"
    assert arm.requests["operation"] == 1  # azure-core did not retry behind our back
    assert gateway.poll(ref, handle).state is OperationState.RUNNING


def test_forbidden_names_the_missing_permission(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("locked-hub", "West US 2", "West Central US")
    arm.answer_next_start_with(403, {"error": {
        "code": "AuthorizationFailed",
        "message": "The client 'f3b1c2d4-0000-0000-0000-000000000000' with object id "
                   "'f3b1c2d4-0000-0000-0000-000000000000' does not have authorization to "
                   "perform action 'Microsoft.Devices/IotHubs/failover/action' over scope "
                   f"'/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/"
                   "Microsoft.Devices/IotHubs/locked-hub' or the scope is invalid."}})

    with pytest.raises(Forbidden) as denied:
        gateway.start_failover(ref, "West Central US")

    assert denied.value.permission == "Microsoft.Devices/IotHubs/failover/action"
    assert denied.value.code == "AuthorizationFailed"


def test_azures_own_daily_limit_is_limit_reached_in_its_own_words(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("tired-hub", "North Europe", "West Europe")
    message = "Failover operation is not allowed: the hub has reached its limit of 2 per day."
    arm.answer_next_start_with(400, {"error": {"code": "BadRequest", "message": message}})

    with pytest.raises(LimitReached) as limit:
        gateway.start_failover(ref, "West Europe")

    assert limit.value.message == message


def test_another_process_resumes_from_the_stored_handle(
        arm: ArmEmulator, clock: FakeClock) -> None:
    ref = arm.add_hub("resumed-hub", "West Europe", "North Europe")
    first = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=clock)
    handle = first.start_failover(ref, "North Europe")
    del first  # the process dies; only the plain-string handle survives (e.g. in the DB)

    clock.advance(TEN_MINUTES)
    fresh = AzureIotHubGateway(StaticTokenCredential(), [SUBSCRIPTION], clock=clock)

    assert fresh.poll(ref, handle).state is OperationState.SUCCEEDED
    assert fresh.get_state(ref).active_region == "North Europe"


def test_lists_every_page_of_every_subscription(
        rsps: responses.RequestsMock, clock: FakeClock,
        credential: StaticTokenCredential) -> None:
    arm = ArmEmulator(rsps, clock, page_size=2)
    other = "00000000-1111-2222-3333-444444444444"
    for i in range(5):
        arm.add_hub(f"hub-{i}", "East US", "West US", resource_group=f"rg-{i}")
    arm.add_hub("elsewhere", "UK South", "UK West", subscription_id=other,
                resource_group="rg-uk")
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION, other], clock=clock)

    hubs = gateway.list_hubs()

    assert [h.name for h in hubs] == ["hub-0", "hub-1", "hub-2", "hub-3", "hub-4", "elsewhere"]
    assert hubs[3].ref == HubRef("hub-3", SUBSCRIPTION, "rg-3")
    assert hubs[5].ref == HubRef("elsewhere", other, "rg-uk")
    assert all(h.device_count is None for h in hubs)
    assert arm.requests["list"] == 3 + 1  # three pages, then one page for the other subscription


def test_resolve_ignores_case_and_caches_the_list(
        arm: ArmEmulator, gateway: AzureIotHubGateway, clock: FakeClock) -> None:
    arm.add_hub("Contoso-Prod-WEU", "West Europe", "North Europe", resource_group="rg-contoso")

    assert gateway.resolve("contoso-prod-weu") == HubRef(
        "Contoso-Prod-WEU", SUBSCRIPTION, "rg-contoso")
    gateway.resolve("CONTOSO-PROD-WEU")
    gateway.list_hubs()
    assert arm.requests["list"] == 1

    clock.advance(timedelta(minutes=5))
    gateway.list_hubs()
    assert arm.requests["list"] == 2


def test_resolve_refreshes_once_before_saying_not_found(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    gateway.list_hubs()
    arm.add_hub("brand-new-hub", "West US", "East US")

    assert gateway.resolve("brand-new-hub").name == "brand-new-hub"
    with pytest.raises(HubNotFound):
        gateway.resolve("never-created")
    assert arm.requests["list"] == 3  # first load, refresh for the new hub, one for the missing


def test_resolve_lists_the_candidates_when_the_name_is_ambiguous(
        arm: ArmEmulator, clock: FakeClock, credential: StaticTokenCredential) -> None:
    other = "00000000-1111-2222-3333-444444444444"
    arm.add_hub("twin", "West US", "East US", resource_group="rg-a")
    arm.add_hub("twin", "West US", "East US", subscription_id=other, resource_group="rg-b")
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION, other], clock=clock)

    with pytest.raises(AmbiguousHub) as ambiguous:
        gateway.resolve("TWIN")

    assert ambiguous.value.candidates == [HubRef("twin", SUBSCRIPTION, "rg-a"),
                                          HubRef("twin", other, "rg-b")]


@pytest.mark.parametrize(("cloud", "host", "login"), [
    ("AzureChinaCloud", "management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    ("AzureUSGovernment", "management.usgovcloudapi.net", "login.microsoftonline.us"),
])
def test_sovereign_clouds_use_their_own_endpoint_and_token_scope(
        rsps: responses.RequestsMock, clock: FakeClock, credential: StaticTokenCredential,
        cloud: str, host: str, login: str) -> None:
    arm = ArmEmulator(rsps, clock, base_url=f"https://{host}")
    ref = arm.add_hub("sovereign-hub", "China East 2", "China North 2")
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION], cloud=cloud, clock=clock)

    gateway.resolve("sovereign-hub")
    handle = gateway.start_failover(ref, "China North 2")
    gateway.poll(ref, handle)

    assert arm.hosts == {host}
    assert handle.startswith(f"https://{host}/")
    assert set(credential.scopes) == {(f"https://{host}/.default",)}
    assert authority_for(cloud) == login


def test_a_handle_for_another_host_is_refused_without_sending_the_token(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("hub", "West US", "East US")

    with pytest.raises(GatewayError) as refused:
        gateway.poll(ref, "https://attacker.example/operationResults/x?asyncinfo")

    assert refused.value.code == "InvalidOperationHandle"


def test_a_server_error_on_a_read_is_transient(
        rsps: responses.RequestsMock, gateway: AzureIotHubGateway) -> None:
    rsps.add(responses.GET, f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/"
             "resourceGroups/rg/providers/Microsoft.Devices/IotHubs/hub",
             status=503, json={"error": {"code": "ServiceUnavailable", "message": "Try later."}})

    with pytest.raises(TransientError) as transient:
        gateway.get_state(HubRef("hub", SUBSCRIPTION, "rg"))

    assert (transient.value.code, transient.value.message) == ("ServiceUnavailable", "Try later.")
    assert len(rsps.calls) == 1


# -- a start whose answer is lost is never repeated --------------------------------------


def test_a_timed_out_start_that_reached_azure_is_followed_without_a_second_post(
        arm: ArmEmulator, gateway: AzureIotHubGateway, clock: FakeClock) -> None:
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe")
    arm.lose_next_start_answer(reached_azure=True)

    handle = gateway.start_failover(ref, "North Europe")

    assert handle == f"hubstate:{SUBSCRIPTION}/myResourceGroup/contoso-prod-weu/northeurope"
    assert gateway.poll(ref, handle).state is OperationState.RUNNING
    clock.advance(TEN_MINUTES)
    assert gateway.poll(ref, handle).state is OperationState.SUCCEEDED
    assert arm.requests["failover"] == 1


@pytest.mark.parametrize("lost", [
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.ConnectionError("connection reset by peer"),
])
def test_a_lost_start_that_never_reached_azure_says_it_was_not_started(
        arm: ArmEmulator, gateway: AzureIotHubGateway, lost: Exception) -> None:
    ref = arm.add_hub("quiet-hub", "West Europe", "North Europe")
    arm.lose_next_start_answer(reached_azure=False, error=lost)

    with pytest.raises(TransientError) as not_started:
        gateway.start_failover(ref, "North Europe")

    assert not_started.value.code == "FailoverNotStarted"
    assert "NOT started" in not_started.value.message
    assert arm.requests["failover"] == 1


def test_a_server_error_on_the_start_is_not_retried_by_azure_core(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("flaky-hub", "West Europe", "North Europe")
    # azure-core retries a POST on 503 by default, and on anything with Retry-After.
    arm.answer_next_start_with(503, {"error": {"code": "ServiceUnavailable", "message": "x"}},
                               headers={"Retry-After": "1"})

    with pytest.raises(TransientError):
        gateway.start_failover(ref, "North Europe")

    assert arm.requests["failover"] == 1


def test_when_the_hub_cannot_be_reread_the_outcome_is_reported_unknown(
        arm: ArmEmulator, gateway: AzureIotHubGateway) -> None:
    ref = arm.add_hub("dark-hub", "West Europe", "North Europe")
    arm.lose_next_start_answer(reached_azure=True)
    arm.injected.hub_reads.append((500, {"error": {"code": "InternalError", "message": "x"}}))

    with pytest.raises(GatewayError) as unknown:
        gateway.start_failover(ref, "North Europe")

    assert unknown.value.code == "FailoverOutcomeUnknown"
    assert not isinstance(unknown.value, TransientError)
    assert arm.requests["failover"] == 1


def test_without_an_async_operation_header_the_location_url_is_followed(
        rsps: responses.RequestsMock, gateway: AzureIotHubGateway) -> None:
    hub_url = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/"
               "providers/Microsoft.Devices/IotHubs/old-style-hub")
    location = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/"
                "Microsoft.Devices/locations/westus/operationResults/op1?api-version=2023-06-30")
    rsps.add(responses.POST, f"{hub_url}/failover", status=202, headers={"Location": location})
    rsps.add(responses.GET, location, status=202, headers={"Retry-After": "20"})
    rsps.add(responses.GET, location, status=200)
    ref = HubRef("old-style-hub", SUBSCRIPTION, "rg")

    handle = gateway.start_failover(ref, "East US")
    running = gateway.poll(ref, handle)
    done = gateway.poll(ref, handle)

    assert handle == location
    assert (running.state, running.retry_after) == (OperationState.RUNNING, 20)
    assert done.state is OperationState.SUCCEEDED


def test_a_running_poll_passes_on_azures_retry_after(
        rsps: responses.RequestsMock, gateway: AzureIotHubGateway) -> None:
    url = (f"https://management.azure.com/subscriptions/{SUBSCRIPTION}/providers/"
           "Microsoft.Devices/locations/westus/operationResults/op2?api-version=2023-06-30"
           "&asyncinfo")
    rsps.add(responses.GET, url, json={"status": "Running"}, headers={"Retry-After": "45"})

    poll = gateway.poll(HubRef("h", SUBSCRIPTION, "rg"), url)

    assert (poll.state, poll.retry_after) == (OperationState.RUNNING, 45)


def test_a_malformed_handle_is_refused(gateway: AzureIotHubGateway) -> None:
    with pytest.raises(GatewayError) as refused:
        gateway.poll(HubRef("h", SUBSCRIPTION, "rg"), "hubstate:only/two")

    assert refused.value.code == "InvalidOperationHandle"
