"""Prometheus metrics on a registry of their own (no process-global default registry)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, generate_latest

NAMESPACE = "failover_bot"
# A failover takes minutes for an empty hub and an hour or more for millions of devices.
OPERATION_BUCKETS = (60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
                     5400.0, 7200.0, 10800.0, 14400.0)
CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The classic text format every Prometheus version reads (what generate_latest writes).
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Timer = Callable[[], float]
# Minutes, from the first possible (2 whole minutes, plus Azure's delay) to past the window.
VERIFIED_BUCKETS = tuple(60.0 * m for m in (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 60))


class Metrics:
    """Every metric failover-bot exports; one instance per process (or per test)."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 timer: Timer = time.perf_counter) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._timer = timer
        ns, reg = NAMESPACE, self.registry
        self.requests_total = Counter(
            "requests_total", "Failover/failback requests by how they ended.",
            ["outcome"], namespace=ns, registry=reg)
        self.refusals_total = Counter(
            "refusals_total", "Requests refused by a guard, by reason.", ["reason"],
            namespace=ns, registry=reg)
        self.operations_running = Gauge(
            "operations_running", "Azure operations started and not yet finished.",
            namespace=ns, registry=reg)
        self.operation_duration_seconds = Histogram(
            "operation_duration_seconds", "Time from start to end of an Azure operation.",
            ["kind", "outcome"], buckets=OPERATION_BUCKETS, namespace=ns, registry=reg)
        self.azure_call_seconds = Histogram(
            "azure_call_seconds", "Latency of Azure management calls.", ["method"],
            buckets=CALL_BUCKETS, namespace=ns, registry=reg)
        self.azure_errors_total = Counter(
            "azure_errors_total", "Azure calls that failed, by method and error code.",
            ["method", "code"], namespace=ns, registry=reg)
        self.slack_call_seconds = Histogram(
            "slack_call_seconds", "Latency of Slack Web API calls.", ["method"],
            buckets=CALL_BUCKETS, namespace=ns, registry=reg)
        self.slack_errors_total = Counter(
            "slack_errors_total", "Slack Web API calls that failed, by method and error.",
            ["method", "error"], namespace=ns, registry=reg)
        self.poller_lag_seconds = Histogram(
            "poller_lag_seconds", "How late a poll ran compared with when it was due.",
            buckets=LAG_BUCKETS, namespace=ns, registry=reg)
        self.verdicts_total = Counter(
            "verdicts_total", "Verifications after a move, by verdict.", ["verdict"],
            namespace=ns, registry=reg)
        self.time_to_verified_seconds = Histogram(
            "time_to_verified_seconds", "From Azure's completion of a move to the end of the "
            "minute that verified it (Azure Monitor's time).", ["kind"],
            buckets=VERIFIED_BUCKETS, namespace=ns, registry=reg)
        self.consumer_actions_total = Counter(
            "consumer_actions_total", "Consumers acted on after a move, by outcome.",
            ["outcome"], namespace=ns, registry=reg)

    def verdict(self, verdict: str, kind: str, seconds_to_verified: float | None) -> None:
        self.verdicts_total.labels(verdict=verdict).inc()
        if seconds_to_verified is not None:
            self.time_to_verified_seconds.labels(kind=kind).observe(seconds_to_verified)

    def operation_started(self) -> None:
        self.operations_running.inc()

    def operation_finished(self, kind: str, outcome: str, duration_seconds: float) -> None:
        self.operations_running.dec()
        self.operation_duration_seconds.labels(kind=kind, outcome=outcome).observe(
            duration_seconds)

    def poll_ran(self, lag_seconds: float) -> None:
        # A poll that ran early is not late; clamp so clock skew cannot go negative.
        self.poller_lag_seconds.observe(max(0.0, lag_seconds))

    @contextmanager
    def azure_call(self, method: str) -> Iterator[None]:
        """Time an Azure call; on an exception count it under Azure's error code, re-raise."""
        start = self._timer()
        try:
            yield
        except Exception as exc:
            self.azure_errors_total.labels(method=method, code=azure_error_code(exc)).inc()
            raise
        finally:
            self.azure_call_seconds.labels(method=method).observe(self._timer() - start)

    @contextmanager
    def slack_call(self, method: str) -> Iterator[None]:
        """Time a Slack Web API call; on an exception count Slack's ``error`` string."""
        start = self._timer()
        try:
            yield
        except Exception as exc:
            self.slack_errors_total.labels(method=method, error=slack_error(exc)).inc()
            raise
        finally:
            self.slack_call_seconds.labels(method=method).observe(self._timer() - start)


def render_latest(metrics: Metrics, accept: str | None = None) -> tuple[bytes, str]:
    """The body and Content-Type for ``GET /metrics``.

    Pass the request's ``Accept`` header to let a scraper negotiate OpenMetrics; without it
    the classic Prometheus text format is returned.
    """
    if accept:
        encoder, content_type = choose_encoder(accept)
        return encoder(metrics.registry), content_type
    return generate_latest(metrics.registry), TEXT_CONTENT_TYPE


def azure_error_code(exc: BaseException) -> str:
    """Our GatewayError's ``code``, azure-core's ``error.code``, the HTTP status, or the type."""
    code = getattr(exc, "code", None) or getattr(getattr(exc, "error", None), "code", None)
    if code:
        return str(code)
    status = getattr(exc, "status_code", None)
    return str(status) if status else type(exc).__name__


def slack_error(exc: BaseException) -> str:
    """slack_sdk's ``SlackApiError.response["error"]`` (e.g. ``ratelimited``), else the type."""
    response = getattr(exc, "response", None)
    getter = getattr(response, "get", None)
    try:
        error = getter("error") if callable(getter) else None
    except (KeyError, TypeError):
        error = None
    return str(error) if error else type(exc).__name__
