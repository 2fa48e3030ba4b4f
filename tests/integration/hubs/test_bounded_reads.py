"""Reads from Azure hold at every edge (#24): an endless ``nextLink``, a field of the wrong type
or a slow answer costs a bounded number of requests and seconds, and reads as "could not read"
(``CouldNotRead``), never as the bot's own failure.

Through the real azure-mgmt-monitor and azure-mgmt-iothub SDKs, ARM emulated by ``responses``
on a FakeClock; one test on a real socket (a loopback server that never answers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses
from _arm_emulator import PUBLIC_ARM, ArmEmulator
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential
from _faulty_answers import Slow, body, first_item, one_more_page, same_page_again
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.monitor import MonitorManagementClient

from bot.domain.clock import FakeClock, SystemClock
from bot.domain.model import HubRef
from bot.hubs.activity import CachedActivityLog
from bot.hubs.azure import HUB_LIST_MAX_PAGES, AzureIotHubGateway
from bot.hubs.azure_activity import MAX_PAGES, AzureActivityLog
from bot.hubs.gateway import CouldNotRead, HubNotFound
from tests.drills.fake_arm_wire import ToFakeArm

DAY = timedelta(hours=24)
DEADLINE = 5.0


@pytest.fixture
def reader(credential: StaticTokenCredential, clock: FakeClock) -> AzureActivityLog:
    return AzureActivityLog(credential, clock=clock, read_deadline=DEADLINE)


@pytest.fixture
def hub(arm: ArmEmulator) -> HubRef:
    ref = arm.add_hub("hub-a", "West Europe", "North Europe", 1200)
    arm.outside_failover("hub-a", caller="oncall@contoso.com", ago=timedelta(hours=2))
    return ref


# -- the Activity Log ----------------------------------------------------------------------

def test_a_next_link_back_to_the_same_page_ends_after_two_requests(
        arm: ArmEmulator, reader: AzureActivityLog, hub: HubRef, clock: FakeClock) -> None:
    arm.tamper("activity_log", same_page_again)

    with pytest.raises(CouldNotRead) as failed:
        reader.failover_operations(hub, clock.now() - DAY)

    assert arm.requests["activity_log"] == 2
    assert failed.value.code == "RepeatedPage"
    assert failed.value.message == ("Azure's Activity Log of `hub-a` could not be read: "
                                    "Azure sent the same page again.")


def test_a_next_link_that_never_ends_stops_at_the_page_cap(
        arm: ArmEmulator, reader: AzureActivityLog, hub: HubRef, clock: FakeClock) -> None:
    arm.tamper("activity_log", one_more_page)

    with pytest.raises(CouldNotRead) as failed:
        reader.failover_operations(hub, clock.now() - DAY)

    assert arm.requests["activity_log"] == MAX_PAGES == 50
    assert failed.value.reason == "it went on past 50 pages"


@pytest.mark.parametrize("change", [
    first_item(lambda e: e.update(eventTimestamp="yesterday")),
    first_item(lambda e: e.update(status=5)),
    first_item(lambda e: e.update(eventTimestamp=None)),
    first_item(lambda e: e.update(claims="appid")),
    body("<html>Service Unavailable</html>"),
    body('{"value": 5}'),
], ids=["timestamp-yesterday", "status-5", "timestamp-null", "claims-a-string", "not-json",
        "value-not-a-list"])
def test_an_answer_of_the_wrong_shape_could_not_be_read(
        arm: ArmEmulator, reader: AzureActivityLog, hub: HubRef, clock: FakeClock,
        change: Any, caplog: pytest.LogCaptureFixture) -> None:
    arm.tamper("activity_log", change)

    with pytest.raises(CouldNotRead) as failed:
        reader.failover_operations(hub, clock.now() - DAY)

    assert failed.value.code == "MalformedAnswer"
    assert failed.value.message.startswith("Azure's Activity Log of `hub-a` could not be read: "
                                           "its answer was not")
    [logged] = [r for r in caplog.records if r.name == "bot.hubs.bounded"]
    assert logged.levelname == "WARNING" and logged.exc_info is None  # a line, no traceback
    assert "(MalformedAnswer)" in logged.getMessage()


def test_a_40s_answer_is_given_up_at_the_deadline(
        arm: ArmEmulator, reader: AzureActivityLog, hub: HubRef, clock: FakeClock) -> None:
    slow = Slow(clock, 40)
    arm.tamper("activity_log", slow)
    began = clock.now()

    with pytest.raises(CouldNotRead) as failed:
        reader.failover_operations(hub, began - DAY)

    assert (clock.now() - began).total_seconds() == DEADLINE
    assert slow.timeouts == [(DEADLINE, DEADLINE)]
    assert failed.value.reason == "no answer within 5s"


def test_the_deadline_covers_every_page_each_sent_with_the_time_left(
        rsps: responses.RequestsMock, clock: FakeClock,
        credential: StaticTokenCredential) -> None:
    arm = ArmEmulator(rsps, clock, page_size=1)
    ref = arm.add_hub("hub-a", "West Europe", "North Europe")
    arm.outside_failover("hub-a", caller="sre@contoso.com", ago=timedelta(hours=2))
    slow = Slow(clock, 2)  # each page 2s: the third would end at 6s
    arm.tamper("activity_log", slow)
    began = clock.now()

    with pytest.raises(CouldNotRead):
        AzureActivityLog(credential, clock=clock, read_deadline=DEADLINE).failover_operations(
            ref, began - DAY)

    assert [read for _, read in slow.timeouts] == [5.0, 3.0, 1.0]
    assert (clock.now() - began).total_seconds() == DEADLINE


def test_no_request_is_sent_once_the_deadline_has_passed(
        rsps: responses.RequestsMock, clock: FakeClock,
        credential: StaticTokenCredential) -> None:
    arm = ArmEmulator(rsps, clock, page_size=1)
    ref = arm.add_hub("hub-a", "West Europe", "North Europe")
    arm.outside_failover("hub-a", caller="sre@contoso.com", ago=timedelta(hours=2))
    slow = Slow(clock, 2.5)  # the second page arrives just as the deadline passes
    arm.tamper("activity_log", slow)

    with pytest.raises(CouldNotRead) as failed:
        AzureActivityLog(credential, clock=clock, read_deadline=DEADLINE).failover_operations(
            ref, clock.now() - DAY)

    assert [read for _, read in slow.timeouts] == [5.0, 2.5]
    assert arm.requests["activity_log"] == 2
    assert failed.value.code == "ReadDeadline"


def test_a_failed_read_is_remembered_so_the_next_dialog_costs_no_request(
        arm: ArmEmulator, reader: AzureActivityLog, hub: HubRef, clock: FakeClock) -> None:
    cache = CachedActivityLog(reader, clock, ttl=timedelta(seconds=60))
    arm.tamper("activity_log", same_page_again)

    for _ in range(3):
        with pytest.raises(CouldNotRead):
            cache.failover_operations(hub, clock.now() - DAY)

    assert arm.requests["activity_log"] == 2
    arm.tamper("activity_log", None)
    clock.advance(61)
    [operation] = cache.failover_operations(hub, clock.now() - DAY)
    assert operation.caller == "oncall@contoso.com"


# -- the hub list and one hub ----------------------------------------------------------------

def _gateway(credential: StaticTokenCredential, clock: FakeClock) -> AzureIotHubGateway:
    return AzureIotHubGateway(credential, [SUBSCRIPTION], clock=clock, read_deadline=DEADLINE)


def test_an_endless_hub_list_is_refused_whole_and_not_kept(
        rsps: responses.RequestsMock, clock: FakeClock,
        credential: StaticTokenCredential) -> None:
    arm = ArmEmulator(rsps, clock, page_size=2)
    for n in range(5):
        arm.add_hub(f"hub-{n}", "West Europe", "North Europe")
    arm.tamper("list", same_page_again)
    gateway = _gateway(credential, clock)

    with pytest.raises(CouldNotRead) as failed:
        gateway.list_hubs()

    assert arm.requests["list"] == 2
    assert failed.value.message == (
        "The list of IoT hubs could not be read: Azure sent the same page again. Hubs may be "
        "missing from what was read, so none of it is used: try again in a minute.")
    arm.tamper("list", None)
    assert [h.name for h in gateway.list_hubs()] == [f"hub-{n}" for n in range(5)]


def test_a_hub_list_past_the_page_cap_is_refused(
        arm: ArmEmulator, credential: StaticTokenCredential, clock: FakeClock) -> None:
    arm.add_hub("hub-a", "West Europe", "North Europe")
    arm.tamper("list", one_more_page)

    with pytest.raises(CouldNotRead) as failed:
        _gateway(credential, clock).list_hubs()

    assert arm.requests["list"] == HUB_LIST_MAX_PAGES == 100
    assert failed.value.code == "TooManyPages"


def test_a_slow_hub_list_is_given_up_at_the_deadline(
        arm: ArmEmulator, credential: StaticTokenCredential, clock: FakeClock) -> None:
    arm.add_hub("hub-a", "West Europe", "North Europe")
    arm.tamper("list", Slow(clock, 40))
    began = clock.now()

    with pytest.raises(CouldNotRead) as failed:
        _gateway(credential, clock).resolve("hub-a")

    assert (clock.now() - began).total_seconds() == DEADLINE
    assert failed.value.code == "ReadDeadline"


def test_a_hub_of_the_wrong_shape_could_not_be_read_and_a_missing_one_is_still_not_found(
        arm: ArmEmulator, credential: StaticTokenCredential, clock: FakeClock) -> None:
    ref = arm.add_hub("hub-a", "West Europe", "North Europe")
    gateway = _gateway(credential, clock)
    arm.tamper("get", lambda request, answer: answer if answer[0] != 200
               else (200, {}, '{"properties": {"locations": "West Europe"}}'))

    with pytest.raises(CouldNotRead) as failed:
        gateway.get_state(ref)
    with pytest.raises(HubNotFound):
        gateway.get_state(replace(ref, name="hub-gone"))

    assert failed.value.message == ("The hub `hub-a` could not be read: its answer was not in "
                                    "the shape Azure documents.")


# -- a real socket ---------------------------------------------------------------------------

class _Silent(BaseHTTPRequestHandler):
    """Reads the request, then answers nothing until the test is over."""

    release = threading.Event()

    def do_GET(self) -> None:
        self.release.wait(30)
        self.send_response(503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def silent_arm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Silent.release.set()
        server.shutdown()
        server.server_close()


def test_on_a_real_socket_an_answer_that_never_comes_is_given_up_at_the_deadline(
        silent_arm: str) -> None:
    session = requests.Session()
    session.trust_env = False
    session.mount(PUBLIC_ARM + "/", ToFakeArm(silent_arm))
    credential = StaticTokenCredential()

    def client(subscription_id: str) -> MonitorManagementClient:
        return MonitorManagementClient(
            credential, subscription_id, base_url=PUBLIC_ARM,
            transport=RequestsTransport(session=session, session_owner=False))

    reader = AzureActivityLog(credential, clock=SystemClock(), client_factory=client,
                              read_deadline=0.5)

    began = time.monotonic()
    with pytest.raises(CouldNotRead) as failed:
        reader.failover_operations(HubRef("hub-a", SUBSCRIPTION, "rg"),
                                   SystemClock().now() - DAY)
    took = time.monotonic() - began

    assert failed.value.code == "ReadDeadline"
    assert 0.5 <= took < 2.0, f"gave up after {took:.2f}s"
