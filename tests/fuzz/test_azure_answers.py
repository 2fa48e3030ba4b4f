"""Azure's answers broken at random (a hub, a page of hubs, its stats, an Activity Log page,
the failover POST's answer, an operation's status: mutated, replaced, lost, paged without
end) under the bot's honest Slack flows, read through the real azure-mgmt-iothub and
azure-mgmt-monitor SDKs: never a 5xx, never an error or traceback in the log, never a
failover POST for a hub no approver approved, a bounded number of outgoing requests.

The bot reads no Azure Monitor metrics yet: the last test holds the SDK's own boundary
(``metrics.list``), where a verification reader will sit, to answering a ``Response`` whose
minutes can be walked, or raising only azure-core's errors (which such a reader can catch)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from azure.core.exceptions import AzureError, DeserializationError
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import MetricValue, Response
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.arm import HUB, PUBLIC_ARM, SPARE_HUB, SUBSCRIPTION, StaticTokenCredential
from tests.fuzz.azure_answers import Change, Step, installed, plans, steps
from tests.fuzz.harness import APPROVER, REQUESTER, Harness, Sent
from tests.fuzz.mutations import dumps
from tests.fuzz.profiles import FUZZ
from tests.fuzz.slack_payloads import (
    click_payload,
    command_fields,
    event_payload,
    form_body,
    interaction_body,
)
from tests.support import FORM

READS = ("status {hub}", "list", f"failover {SPARE_HUB}", "failover --region westeurope")
POLL_EVERY = timedelta(minutes=1)


def _post(h: Harness, sent: Sent, body: bytes, content_type: str = FORM) -> None:
    body = h.current(body)
    h.post(sent, body, h.signed(body.decode(), content_type))


def _command(h: Harness, sent: Sent, text: str, user: str = REQUESTER) -> None:
    _post(h, sent, form_body(command_fields(h, text, user)))


@FUZZ
@given(plan=plans(("hub", "stats", "list", "activity")),
       reads=st.lists(st.sampled_from((*READS, "home")), min_size=1, max_size=3))
def test_reads_hold_whatever_azure_answers(harness: Harness, plan: dict[str, list[Change]],
                                           reads: list[str]) -> None:
    with harness.example() as sent:
        harness.arm.rewrites = installed(plan)
        for read in reads:
            if read == "home":
                _post(harness, sent, json.dumps(event_payload(harness, REQUESTER, False))
                      .encode(), "application/json")
            else:
                _command(harness, sent, read.format(hub=HUB))
        harness.held(sent)


@FUZZ
@given(plan=plans())
def test_an_approval_and_its_polls_hold_whatever_azure_answers(
        harness: Harness, plan: dict[str, list[Change]]) -> None:
    with harness.example() as sent:
        harness.arm.rewrites = installed(plan)
        _post(harness, sent, interaction_body(click_payload(harness, "approve",
                                                        harness.request_id, APPROVER)))
        for _ in range(2):  # the start, if it was postponed, then a poll
            harness.clock.advance(POLL_EVERY)
            harness.poller().run_once()
        harness.held(sent)


METRICS = {  # Azure Monitor's metrics list answer (Metrics_List), one metric, two minutes
    "cost": 0, "timespan": "2026-12-06T06:00:00Z/2026-12-06T06:02:00Z", "interval": "PT1M",
    "namespace": "Microsoft.Devices/IotHubs", "resourceregion": "westeurope",
    "value": [{
        "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-contoso/providers/"
              f"Microsoft.Devices/IotHubs/{HUB}/providers/Microsoft.Insights/metrics/"
              "connectedDeviceCount",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": "connectedDeviceCount", "localizedValue": "Connected devices"},
        "displayDescription": "Number of devices connected to your IoT hub",
        "unit": "Count", "errorCode": "Success",
        "timeseries": [{"metadatavalues": [], "data": [
            {"timeStamp": "2026-12-06T06:00:00Z", "average": 1180.0},
            {"timeStamp": "2026-12-06T06:01:00Z", "average": 1184.5}]}],
    }],
}


@pytest.fixture(scope="module")
def monitor() -> MonitorManagementClient:
    return MonitorManagementClient(StaticTokenCredential(), SUBSCRIPTION)


@FUZZ
@given(changes=st.lists(steps, max_size=4), status=st.sampled_from((200, 200, 400, 429, 500)))
def test_the_metrics_sdk_raises_only_azure_errors(monitor: MonitorManagementClient,
                                                  changes: list[Step], status: int) -> None:
    body = json.loads(json.dumps(METRICS))
    for step in changes:
        body = step.apply(body)
    resource = METRICS["value"][0]["id"].split("/providers/Microsoft.Insights")[0]
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{PUBLIC_ARM}{resource}/providers/Microsoft.Insights/metrics",
                 body=dumps(body) if body is not None else "", status=status)
        try:
            answer = monitor.metrics.list(resource, interval=timedelta(minutes=1),
                                          metricnames="connectedDeviceCount",
                                          aggregation="Average", retry_total=0)
        except (AzureError, DeserializationError):  # what a reader must catch, and all
            answer = None
        # An answer is a Response (or None for an empty body): its minutes can be walked.
        assert answer is None or isinstance(answer, Response)
        for metric in answer.value or [] if answer else []:
            for series in metric.timeseries or []:
                assert all(isinstance(point, MetricValue) for point in series.data or [])
        assert len(rsps.calls) == 1
