"""A hub's per-minute metrics through the real azure-mgmt-monitor SDK (ARM's metrics endpoint
emulated by ``responses``): what the verdict after a move is read from, bounded like every
other read, and "could not verify" with Azure's words when Azure will not tell."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from _arm_emulator import ArmEmulator, fixture
from _arm_metrics import ArmMetrics, serve_both
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential
from _faulty_answers import Slow
from responses.matchers import query_param_matcher

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.domain.verification import (
    Baseline,
    MetricMinutes,
    MinutePoint,
    Outcome,
    VerifyRules,
    judge,
    judge_failed_read,
    take_baseline,
)
from bot.domain.verification_words import verdict_words
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.azure_metrics import AzureHubMetrics
from bot.hubs.gateway import CouldNotRead, Forbidden, GatewayError, Throttled
from bot.hubs.hub_metrics import READ_PERMISSION, HubMetrics

HUB = HubRef("contoso-prod-weu", SUBSCRIPTION, "myResourceGroup")
RULES = VerifyRules()
METRICS_URL = re.compile(r"https://management\.azure\.com/.*/providers/Microsoft\.Insights/metrics")


def at(hh_mm: str) -> datetime:
    hours, minutes = hh_mm.split(":")
    return datetime(2026, 11, 27, int(hours), int(minutes), tzinfo=UTC)


def every_minute(start: str, end: str, value: float | None) -> dict[datetime, float | None]:
    first, last = at(start), at(end)
    return {first + timedelta(minutes=i): value
            for i in range(int((last - first) / timedelta(minutes=1)))}


@pytest.fixture
def metrics_arm(rsps: responses.RequestsMock, clock: FakeClock) -> ArmMetrics:
    return ArmMetrics(clock).register(rsps)


@pytest.fixture
def reader(credential: StaticTokenCredential, clock: FakeClock) -> AzureHubMetrics:
    return AzureHubMetrics(credential, clock=clock)


def test_the_spec_shaped_answer_is_read_a_point_a_minute_with_empty_minutes_kept_empty(
        rsps: responses.RequestsMock, reader: AzureHubMetrics, clock: FakeClock) -> None:
    example = fixture("metrics_list.json")
    devices = example["responses"]["200"]["body"]
    telemetry = copy.deepcopy(devices)
    series = telemetry["value"][0]
    series["name"] = {"value": "d2c.telemetry.ingress.success",
                      "localizedValue": "Telemetry messages sent"}
    for point in series["timeseries"][0]["data"]:
        if "average" in point:
            point["total"] = point.pop("average") * 5
    for body, metric in ((devices, "connectedDeviceCount"),
                         (telemetry, "d2c.telemetry.ingress.success")):
        rsps.get(METRICS_URL, json=body,
                 match=[query_param_matcher({"metricnames": metric}, strict_match=False)])
    clock.set(at("09:20"))

    read = reader.metric_minutes(HUB, at("09:10"), at("09:14") + timedelta(seconds=30))

    assert read == MetricMinutes(
        tuple(MinutePoint(at(t), v) for t, v in [("09:10", 2016), ("09:11", 7120),
                                                 ("09:12", None), ("09:13", 9700),
                                                 ("09:14", 9812)]),
        tuple(MinutePoint(at(t), v) for t, v in [("09:10", 10080), ("09:11", 35600),
                                                 ("09:12", None), ("09:13", 48500),
                                                 ("09:14", 49060)]))
    sent = [urlparse(c.request.url) for c in rsps.calls]
    assert len(sent) == 2  # one request a metric, each with its own aggregation
    asked = example["parameters"]
    assert {sent[0].path} == {s.path for s in sent} == {
        f"/{asked['resourceUri']}/providers/Microsoft.Insights/metrics"}
    queries = [{k: v[0] for k, v in parse_qs(s.query).items()} for s in sent]
    common = {k: asked[k] for k in ("timespan", "interval", "api-version")}
    assert queries == [
        {**common, "metricnames": "connectedDeviceCount", "aggregation": "Average"},
        {**common, "metricnames": "d2c.telemetry.ingress.success", "aggregation": "Total"}]


def test_a_move_whose_devices_come_back_is_verified_from_whole_settled_minutes_only(
        metrics_arm: ArmMetrics, reader: AzureHubMetrics, clock: FakeClock) -> None:
    """Azure's latest minutes arrive late and partial (2 min here): they are read, and not
    used until they are older than the delay (3 min)."""
    metrics_arm.late = timedelta(minutes=2)
    metrics_arm.hub(HUB, devices=every_minute("08:00", "09:00", 10_040),
                    telemetry=every_minute("08:00", "09:00", 50_000))
    clock.set(at("09:00"))  # the POST
    before = reader.metric_minutes(HUB, at("08:00"), clock.now())
    baseline = take_baseline(before, posted_at=clock.now(), read_at=clock.now(), rules=RULES)
    done = at("09:10")  # Azure said Succeeded
    metrics_arm.hub(HUB, devices={at("09:10"): 1_000, at("09:11"): 6_000, at("09:12"): 9_900,
                                  at("09:13"): 9_812, at("09:14"): 9_900, at("09:15"): 9_950},
                    telemetry={at(f"09:{m}"): 48_000 for m in range(10, 16)})

    clock.set(at("09:16") + timedelta(seconds=30))
    early = reader.metric_minutes(HUB, done, clock.now())
    clock.set(at("09:17"))
    on_time = reader.metric_minutes(HUB, done, clock.now())

    assert baseline == Baseline(10_040, 50_000)
    partial = early.telemetry_by_minute()
    assert (partial[at("09:14")], partial[at("09:15")]) == (40_000, 24_000)  # 5/6, 3/6 in
    assert early.devices_by_minute()[at("09:14")] is None  # its one sample not in yet
    assert judge(baseline, early, completed_at=done, now=at("09:16") + timedelta(seconds=30),
                 rules=RULES).outcome is Outcome.WATCHING
    verdict = judge(baseline, on_time, completed_at=done, now=clock.now(), rules=RULES)
    assert verdict_words(verdict, OperationKind.FAILOVER, RULES) == (
        "Verified: 9,812 of 10,040 devices connected again (97.7 %) 4 min after the failover; "
        "telemetry at 96 % of the hour before.")


def test_an_empty_answer_is_no_evidence_and_ends_in_could_not_verify(
        metrics_arm: ArmMetrics, reader: AzureHubMetrics, clock: FakeClock) -> None:
    metrics_arm.hub(HUB)  # Azure has nothing for the hub: every minute a bare timeStamp
    clock.set(at("09:28"))

    read = reader.metric_minutes(HUB, at("09:10"), clock.now())
    metrics_arm.tamper = _without_series
    no_series = reader.metric_minutes(HUB, at("09:10"), clock.now())

    assert {p.value for p in (*read.devices, *read.telemetry)} == {None}
    assert len(read.devices) == 18
    assert no_series == MetricMinutes()
    verdict = judge(Baseline(10_040, 50_000), read, completed_at=at("09:10"), now=clock.now(),
                    rules=RULES)
    assert verdict_words(verdict, OperationKind.FAILBACK, RULES) == (
        "Could not verify: Azure Monitor had no figures for any whole minute of the 15 min "
        "after the completion.")


def test_metrics_forbidden_is_could_not_verify_with_azures_words(
        metrics_arm: ArmMetrics, reader: AzureHubMetrics, clock: FakeClock) -> None:
    metrics_arm.hub(HUB)
    message = ("The client 'f1c1d2e0' with object id 'f1c1d2e0' does not have authorization "
               "to perform action 'Microsoft.Insights/metrics/read' over scope '/subscriptions/"
               f"{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/Microsoft.Devices/"
               "IotHubs/contoso-prod-weu' or the scope is invalid.")
    metrics_arm.answer_next_with(403, "AuthorizationFailed", message)

    with pytest.raises(Forbidden) as denied:
        reader.metric_minutes(HUB, at("08:00"), at("09:00"))

    assert denied.value.permission == READ_PERMISSION
    verdict = judge_failed_read(denied.value.message, lasting=True, completed_at=at("09:10"),
                                now=at("09:14"), rules=RULES)
    assert verdict_words(verdict, OperationKind.FAILOVER, RULES) == (
        f"Could not verify: Azure Monitor's metrics could not be read: {message}")


def test_throttled_says_when_to_come_back_and_is_not_retried_in_the_read(
        metrics_arm: ArmMetrics, reader: AzureHubMetrics) -> None:
    metrics_arm.hub(HUB)
    metrics_arm.answer_next_with(429, "TooManyRequests", "Number of read requests for "
                                 "subscription exceeded the limit.", retry_after=30)

    with pytest.raises(Throttled) as throttled:
        reader.metric_minutes(HUB, at("09:10"), at("09:15"))

    assert throttled.value.retry_after == 30
    assert len(metrics_arm.calls) == 1


def _without_series(request: Any, answer: Any) -> Any:
    body = json.loads(answer[2])
    for metric in body["value"]:
        metric["timeseries"] = []
    return answer[0], answer[1], json.dumps(body)


def _changed(change: Any) -> Any:
    def tamper(request: Any, answer: Any) -> Any:
        body = json.loads(answer[2])
        change(body)
        return answer[0], answer[1], json.dumps(body)
    return tamper


def _first_point(body: dict[str, Any]) -> dict[str, Any]:
    point: dict[str, Any] = body["value"][0]["timeseries"][0]["data"][0]
    return point


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda request, answer: (200, {}, "<html>gateway</html>"), id="not-json"),
    pytest.param(_changed(lambda b: b.update(value="none")), id="value-not-a-list"),
    pytest.param(_changed(lambda b: b.pop("value")), id="no-value"),
    pytest.param(_changed(lambda b: b.update(interval="PT5M")), id="another-grain"),
    pytest.param(_changed(lambda b: _first_point(b).update(average="many")), id="not-a-number"),
    pytest.param(_changed(lambda b: _first_point(b).pop("timeStamp")), id="no-timestamp"),
    pytest.param(_changed(lambda b: _first_point(b).update(timeStamp="2026-11-27T09:10:30Z")),
                 id="off-the-minute"),
    pytest.param(_changed(lambda b: b["value"][0]["timeseries"].append(
        b["value"][0]["timeseries"][0])), id="two-series"),
    pytest.param(_changed(lambda b: b["value"][0]["name"].update(value="deviceCount")),
                 id="another-metric"),
])
def test_a_malformed_answer_is_could_not_read(metrics_arm: ArmMetrics, reader: AzureHubMetrics,
                                              tamper: Any) -> None:
    metrics_arm.hub(HUB, devices={at("09:10"): 5.0})
    metrics_arm.tamper = tamper

    with pytest.raises(CouldNotRead) as unusable:
        reader.metric_minutes(HUB, at("09:10"), at("09:12"))

    assert unusable.value.code == "MalformedAnswer"
    assert "Azure Monitor's metrics of `contoso-prod-weu` could not be read" in (
        unusable.value.message)


def test_a_metric_azure_answers_with_its_own_error_is_said_in_azures_words(
        metrics_arm: ArmMetrics, reader: AzureHubMetrics) -> None:
    metrics_arm.hub(HUB)
    metrics_arm.fail_metric("d2c.telemetry.ingress.success", "InvalidSamplingType",
                            "Sampling type is not found. Metric:IotHub,d2c.telemetry.ingress."
                            "success, SamplingType:NullableTotal.")

    with pytest.raises(GatewayError) as refused:
        reader.metric_minutes(HUB, at("09:10"), at("09:12"))

    assert refused.value.code == "InvalidSamplingType"
    assert refused.value.message == (
        "Azure Monitor gave no d2c.telemetry.ingress.success for `contoso-prod-weu`: Sampling "
        "type is not found. Metric:IotHub,d2c.telemetry.ingress.success, "
        "SamplingType:NullableTotal.")


def test_one_deadline_covers_both_requests(metrics_arm: ArmMetrics, clock: FakeClock,
                                           credential: StaticTokenCredential) -> None:
    metrics_arm.hub(HUB)
    slow = metrics_arm.tamper = Slow(clock, 3.0)
    reader = AzureHubMetrics(credential, clock=clock, read_deadline=5.0)

    with pytest.raises(CouldNotRead) as too_slow:
        reader.metric_minutes(HUB, at("09:10"), at("09:12"))

    assert too_slow.value.code == "ReadDeadline"
    assert [read for _, read in slow.timeouts] == [5.0, 2.0]  # the second one had 2 s left


def test_the_gateway_reads_metrics_with_its_own_credential_and_cloud(
        rsps: responses.RequestsMock, clock: FakeClock,
        credential: StaticTokenCredential) -> None:
    china = "https://management.chinacloudapi.cn"
    metrics_arm = ArmMetrics(clock, base_url=china).register(rsps)
    metrics_arm.hub(HUB, devices={at("08:59"): 42})
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION], cloud="AzureChinaCloud",
                                 clock=clock)

    read = gateway.metric_minutes(HUB, at("08:59"), at("09:00"))

    assert isinstance(gateway, HubMetrics)
    assert read.devices == (MinutePoint(at("08:59"), 42),)
    assert metrics_arm.hosts == {"management.chinacloudapi.cn"}
    assert set(credential.scopes) == {(f"{china}/.default",)}


def test_beside_the_hub_emulator_one_route_serves_both(
        rsps: responses.RequestsMock, clock: FakeClock, gateway: AzureIotHubGateway) -> None:
    arm = ArmEmulator(None, clock)
    metrics_arm = ArmMetrics(clock)
    serve_both(rsps, metrics_arm, arm.answer)
    ref = arm.add_hub("contoso-prod-weu", "West Europe", "North Europe", devices=10)
    metrics_arm.hub(ref, devices={at("08:58"): 10})

    assert gateway.get_state(ref).active_region
    assert gateway.metric_minutes(ref, at("08:58"), at("08:59")).devices == (
        MinutePoint(at("08:58"), 10),)


def test_azure_monitors_sdk_is_not_imported_until_a_first_read() -> None:
    probe = ("import sys\n"
             "from bot.hubs.azure import AzureIotHubGateway\n"
             "from bot.hubs.azure_metrics import AzureHubMetrics\n"
             "import bot.hubs.hub_metrics\n"
             "AzureHubMetrics(object())\n"
             "print('azure.mgmt.monitor' in sys.modules)\n")

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)

    assert out.stdout.strip() == "False"
