"""Restarting a hub's consumers through the real azure-mgmt-web and azure-mgmt-streamanalytics
SDKs, ARM emulated by ``responses`` (``_arm_consumers.py``): the Function app is restarted, the
Stream Analytics job stopped and started again from its last output, Azure's refusals come
back in its own words, throttling is waited out on the fake clock, and a failed operation says
what state it left the consumer in."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from _arm_consumers import START, ArmConsumers, arm_error
from _azure_fakes import SUBSCRIPTION, StaticTokenCredential

from bot.domain.clock import FakeClock
from bot.domain.consumer_results import RestartOutcome, Step
from bot.domain.consumers import Consumer, ConsumerKind
from bot.hubs.azure import AzureIotHubGateway
from bot.hubs.azure_consumers import AzureConsumerRestarts, Retries
from bot.hubs.consumers import ConsumerRestarts

FUNC = Consumer(ConsumerKind.FUNCTION_APP, SUBSCRIPTION, "rg-telemetry", "func-telemetry")
ASA = Consumer(ConsumerKind.STREAM_ANALYTICS, SUBSCRIPTION, "rg-telemetry", "asa-alerts")
RESTART_ACTION = "Microsoft.Web/sites/restart/action"


@pytest.fixture
def azure(rsps: responses.RequestsMock, clock: FakeClock) -> ArmConsumers:
    azure = ArmConsumers(rsps, clock)
    azure.add_function_app("func-telemetry")
    azure.add_job("asa-alerts")
    return azure


@pytest.fixture
def restarts(credential: StaticTokenCredential, clock: FakeClock) -> AzureConsumerRestarts:
    return AzureConsumerRestarts(credential, clock=clock, jitter=lambda: 0.0)


def test_a_function_app_is_restarted_with_one_request(
        azure: ArmConsumers, restarts: AzureConsumerRestarts, clock: FakeClock) -> None:
    began = clock.now()
    result = restarts.restart_consumer(FUNC)

    assert result.sentence() == "restarted func-telemetry (Function app) in 0s"
    assert azure.sites["func-telemetry"] == 1
    assert azure.sent == [("restart", "POST", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/"
                           "rg-telemetry/providers/Microsoft.Web/sites/func-telemetry/restart")]
    assert clock.now() == began


def test_a_stream_analytics_job_is_stopped_then_started_from_its_last_output(
        azure: ArmConsumers, restarts: AzureConsumerRestarts, clock: FakeClock,
        rsps: responses.RequestsMock) -> None:
    began = clock.now()
    result = restarts.restart_consumer(ASA)

    assert result.outcome is RestartOutcome.RESTARTED
    # Each operation takes 45 s; Azure asks for a look every 10 s: five looks each.
    assert [route for route, _, _ in azure.sent] == (
        ["stop"] + ["operation"] * 5 + ["start"] + ["operation"] * 5)
    assert azure.jobs["asa-alerts"].state == "Running"
    start = next(c.request for c in rsps.calls if (c.request.url or "").count("/start?"))
    assert json.loads(start.body or b"") == START["parameters"]["startJobParameters"] == {
        "outputStartMode": "LastOutputEventTime"}
    assert result.seconds == (clock.now() - began).total_seconds() == 100
    assert result.sentence() == ("restarted asa-alerts (Stream Analytics job) in 1m 40s, "
                                 "from its last output")


def test_a_refusal_comes_back_in_azures_words_and_is_not_retried(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-telemetry"
    azure.answer_next("restart", arm_error("AuthorizationFailed", action=RESTART_ACTION,
                                           scope=scope))
    result = restarts.restart_consumer(FUNC)

    assert (result.outcome, result.status, result.code) == (
        RestartOutcome.FAILED, 403, "AuthorizationFailed")
    assert result.permission == RESTART_ACTION
    assert f"does not have authorization to perform action '{RESTART_ACTION}'" in (
        result.message or "")
    assert result.sentence().startswith("could not restart func-telemetry (Function app): "
                                        "The client '5f1c1d2e")
    assert azure.requests_on("restart") == 1 and azure.sites["func-telemetry"] == 0


@pytest.mark.parametrize(("code", "status"), [("ResourceNotFound", 404), ("Conflict", 409)])
def test_not_found_and_conflict_are_final(azure: ArmConsumers,
                                          restarts: AzureConsumerRestarts, code: str,
                                          status: int) -> None:
    azure.answer_next("stop", arm_error(code, type="Microsoft.StreamAnalytics/streamingjobs",
                                        name="asa-alerts", group="rg-telemetry"))
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step, result.status, result.code) == (
        RestartOutcome.FAILED, Step.STOP, status, code)
    assert azure.requests_on("stop") == 1 and azure.requests_on("start") == 0
    assert azure.jobs["asa-alerts"].state == "Running"


def test_throttling_is_waited_out_on_the_clock_then_the_restart_goes_through(
        azure: ArmConsumers, restarts: AzureConsumerRestarts, clock: FakeClock) -> None:
    azure.answer_next("restart", arm_error("TooManyRequests", subscription=SUBSCRIPTION))
    began = clock.now()
    result = restarts.restart_consumer(FUNC)

    assert result.outcome is RestartOutcome.RESTARTED and result.requests == 2
    assert clock.now() - began == timedelta(seconds=7)  # Azure's Retry-After, not more
    assert result.sentence() == "restarted func-telemetry (Function app) in 7s"
    assert azure.sites["func-telemetry"] == 1


def test_transient_errors_that_do_not_end_are_given_up_after_a_bounded_number_of_tries(
        azure: ArmConsumers, restarts: AzureConsumerRestarts, clock: FakeClock) -> None:
    for _ in range(10):
        azure.answer_next("restart", arm_error("ServiceUnavailable"))
    began = clock.now()
    result = restarts.restart_consumer(FUNC)

    assert (result.outcome, result.status, result.code) == (
        RestartOutcome.FAILED, 503, "ServiceUnavailable")
    assert azure.requests_on("restart") == Retries().attempts == 4
    # Back-off between the four tries, doubling (its jitter at the bottom of its range here).
    assert clock.now() - began == timedelta(seconds=1 + 2 + 4)


def test_a_start_that_fails_leaves_the_job_stopped_and_says_so(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    azure.fail_next("asa-alerts", "start", "JobStartFailed",
                    "The output start time cannot be determined: the job has no output yet.")
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step, result.code) == (
        RestartOutcome.LEFT_STOPPED, Step.START, "JobStartFailed")
    assert azure.jobs["asa-alerts"].state == "Stopped"
    assert result.sentence() == (
        "stopped asa-alerts (Stream Analytics job) but could not start it again: The output "
        "start time cannot be determined: the job has no output yet (JobStartFailed, "
        "HTTP 400). Start it by hand.")


def test_a_stop_that_fails_is_not_followed_by_a_start(azure: ArmConsumers,
                                                      restarts: AzureConsumerRestarts) -> None:
    azure.fail_next("asa-alerts", "stop", "JobStopFailed", "The job could not be stopped.")
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step, result.code, result.message) == (
        RestartOutcome.FAILED, Step.STOP, "JobStopFailed", "The job could not be stopped.")
    assert azure.requests_on("start") == 0


def test_a_start_whose_answer_was_lost_is_not_sent_again(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    azure.lose_next("start", reached_azure=True)
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step) == (RestartOutcome.UNKNOWN, Step.START)
    assert azure.requests_on("start") == 1
    assert result.sentence().startswith("Azure did not confirm the start of asa-alerts")


def test_a_restart_whose_request_never_left_is_sent_again(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    azure.lose_next("restart", reached_azure=False)
    result = restarts.restart_consumer(FUNC)

    assert result.outcome is RestartOutcome.RESTARTED
    assert azure.requests_on("restart") == 2 and azure.sites["func-telemetry"] == 1


def test_an_operation_that_never_ends_is_left_unconfirmed_at_the_deadline(
        azure: ArmConsumers, credential: StaticTokenCredential, clock: FakeClock) -> None:
    azure.never_ending = True
    restarts = AzureConsumerRestarts(credential, clock=clock, jitter=lambda: 0.0,
                                     retries=Retries(deadline=timedelta(minutes=2)))
    began = clock.now()
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step) == (RestartOutcome.UNKNOWN, Step.STOP)
    assert clock.now() - began <= timedelta(minutes=2)
    assert azure.requests_on("operation") == 11 and azure.requests_on("start") == 0


def test_an_operation_url_off_resource_manager_gets_no_token(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    azure.answer_next("stop", (202, {"Location": "https://attacker.example/op/1"}, ""))
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.code) == (RestartOutcome.UNKNOWN, "InvalidOperationUrl")
    assert azure.requests_on("operation") == 0 and azure.requests_on("start") == 0


def test_the_gateway_restarts_with_its_own_credential_and_cloud(
        rsps: responses.RequestsMock, clock: FakeClock) -> None:
    china = ArmConsumers(rsps, clock, base_url="https://management.chinacloudapi.cn")
    china.add_function_app("func-telemetry")
    credential = StaticTokenCredential()
    gateway = AzureIotHubGateway(credential, [SUBSCRIPTION], cloud="AzureChinaCloud",
                                 clock=clock)

    assert isinstance(gateway, ConsumerRestarts)
    assert gateway.restart_consumer(FUNC).ok
    assert china.sites["func-telemetry"] == 1
    assert credential.scopes == [("https://management.chinacloudapi.cn/.default",)]


def test_an_operation_azure_took_but_that_cannot_be_followed_is_unconfirmed_not_failed(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    action = "Microsoft.StreamAnalytics/locations/operationResults/read"
    azure.answer_next("operation", arm_error("AuthorizationFailed", action=action,
                                             scope=f"/subscriptions/{SUBSCRIPTION}"))
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step, result.status) == (RestartOutcome.UNKNOWN, Step.STOP,
                                                            403)
    assert action in result.sentence()
    assert azure.requests_on("start") == 0  # a job that may be stopping is not started blind


def test_the_sdks_cost_no_memory_until_a_consumer_is_restarted() -> None:
    # azure-mgmt-web alone is ~15 MB resident: the work process loads it on first use only.
    code = ("import sys, bot.roles.work, bot.hubs.azure; print(sorted(m for m in sys.modules "
            "if m.startswith(('azure.mgmt.web', 'azure.mgmt.streamanalytics', 'msrest'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[3])
    assert loaded.stdout.strip() == "[]"


def test_an_answer_not_in_azures_shape_is_unconfirmed_not_a_crash(
        azure: ArmConsumers, restarts: AzureConsumerRestarts) -> None:
    azure.answer_next("operation", (200, {}, "<html>gateway error</html>"))
    result = restarts.restart_consumer(ASA)

    assert (result.outcome, result.step, result.code) == (RestartOutcome.UNKNOWN, Step.STOP,
                                                          "MalformedAnswer")
    assert azure.requests_on("start") == 0

