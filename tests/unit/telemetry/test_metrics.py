"""What Prometheus scrapes from GET /metrics after the bot has done some work."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from bot.hubs.gateway import GatewayError
from bot.telemetry import Metrics, render_latest


class FakeTimer:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = render_latest(metrics)
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_recorded_work_shows_up_under_the_documented_names() -> None:
    metrics = Metrics()
    metrics.requests_total.labels(outcome="succeeded").inc()
    metrics.refusals_total.labels(reason="quota_exhausted").inc(2)
    metrics.operation_started()
    metrics.operation_started()
    metrics.operation_finished("failover", "succeeded", 8 * 60)
    metrics.poll_ran(lag_seconds=1.5)
    metrics.poll_ran(lag_seconds=-0.2)

    samples = scrape(metrics)

    assert samples[("failover_bot_requests_total", (("outcome", "succeeded"),))] == 1
    assert samples[("failover_bot_refusals_total", (("reason", "quota_exhausted"),))] == 2
    assert samples[("failover_bot_operations_running", ())] == 1
    duration = (("kind", "failover"), ("outcome", "succeeded"))
    assert samples[("failover_bot_operation_duration_seconds_count", duration)] == 1
    assert samples[("failover_bot_operation_duration_seconds_sum", duration)] == 480
    # Buckets span a minute to four hours: 8 minutes is above 5 min and within 10 min.
    assert samples[("failover_bot_operation_duration_seconds_bucket",
                    (*duration[:1], ("le", "300.0"), *duration[1:]))] == 0
    assert samples[("failover_bot_operation_duration_seconds_bucket",
                    (*duration[:1], ("le", "600.0"), *duration[1:]))] == 1
    assert ("failover_bot_operation_duration_seconds_bucket",
            (*duration[:1], ("le", "14400.0"), *duration[1:])) in samples
    assert samples[("failover_bot_poller_lag_seconds_count", ())] == 2
    assert samples[("failover_bot_poller_lag_seconds_sum", ())] == 1.5


def test_azure_calls_are_timed_and_failures_counted_by_azure_code() -> None:
    timer = FakeTimer()
    metrics = Metrics(timer=timer)

    with metrics.azure_call("get"):
        timer.now += 0.3
    with pytest.raises(GatewayError), metrics.azure_call("begin_manual_failover"):
        timer.now += 1.2
        raise GatewayError("Failover is allowed only twice a day", code="IotHubFailoverLimit")

    samples = scrape(metrics)
    get_seconds = samples[("failover_bot_azure_call_seconds_sum", (("method", "get"),))]
    assert get_seconds == pytest.approx(0.3)
    failover = (("method", "begin_manual_failover"),)
    assert samples[("failover_bot_azure_call_seconds_count", failover)] == 1
    assert samples[("failover_bot_azure_errors_total",
                    (("code", "IotHubFailoverLimit"), ("method", "begin_manual_failover")))] == 1
    assert ("failover_bot_azure_errors_total",
            (("code", "IotHubFailoverLimit"), ("method", "get"))) not in samples


def test_slack_failures_are_counted_by_slack_error_string() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    metrics = Metrics(timer=FakeTimer())
    response = SlackResponse(client=None, http_verb="POST", api_url="chat.update", req_args={},
                             data={"ok": False, "error": "ratelimited"}, headers={},
                             status_code=429)
    with pytest.raises(SlackApiError), metrics.slack_call("chat.update"):
        raise SlackApiError("rate limited", response)
    with pytest.raises(TimeoutError), metrics.slack_call("chat.postMessage"):
        raise TimeoutError

    samples = scrape(metrics)
    assert samples[("failover_bot_slack_errors_total",
                    (("error", "ratelimited"), ("method", "chat.update")))] == 1
    assert samples[("failover_bot_slack_errors_total",
                    (("error", "TimeoutError"), ("method", "chat.postMessage")))] == 1
    assert samples[("failover_bot_slack_call_seconds_count", (("method", "chat.update"),))] == 1


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.requests_total.labels(outcome="rejected").inc()

    assert ("failover_bot_requests_total", (("outcome", "rejected"),)) not in scrape(second)
    shared = CollectorRegistry()
    Metrics(registry=shared)
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(registry=shared)


def test_a_scraper_asking_for_openmetrics_gets_it() -> None:
    metrics = Metrics()
    metrics.requests_total.labels(outcome="expired").inc()

    body, content_type = render_latest(
        metrics, accept="application/openmetrics-text; version=1.0.0,text/plain;q=0.5")

    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert b'failover_bot_requests_total{outcome="expired"} 1.0' in body
