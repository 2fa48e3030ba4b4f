"""Restarting a hub's consumers through Azure's own SDKs, once each, after a failover.

- Function app: ``WebSiteManagementClient.web_apps.restart`` (azure-mgmt-web), ``POST
  …/Microsoft.Web/sites/{name}/restart``, 200 once Azure has taken it (it restarts the app
  asynchronously: ``synchronous=true`` would hold the request past ARM's own time-out and a
  504 would then be retried into a second restart).
- Stream Analytics job: ``streaming_jobs.begin_stop``, then ``begin_start`` with
  ``outputStartMode: LastOutputEventTime`` (azure-mgmt-streamanalytics), each a long-running
  operation (202, then its ``Location``/``Azure-AsyncOperation`` URL) followed to its end
  from this thread on the injected clock (:mod:`bot.hubs._arm_lro`), never on LROPoller's.

Every request goes out with azure-core's retries off; this module retries throttling (429),
5xx and network errors itself, with exponential back-off and jitter at least Azure's
``Retry-After`` (:func:`bot.domain.backoff.backoff_delay`), at most ``Retries.attempts``
requests per step and never past the consumer's deadline. A 4xx other than 429 is final. A
start whose answer was lost is not sent again (it may have begun): its outcome is unknown.
Same credential and cloud as the IoT Hub gateway; the SDKs are imported on first use.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, DecodeError, ServiceResponseError

from bot.domain.backoff import backoff_delay
from bot.domain.clock import Clock, SystemClock
from bot.domain.consumer_results import RestartOutcome, RestartResult, Step
from bot.domain.consumers import Consumer, ConsumerKind
from bot.hubs._arm_lro import is_resource_manager_url, look_once
from bot.hubs._azure_errors import from_azure_error, retry_after_seconds
from bot.hubs._built_once import BuiltOnce
from bot.hubs._clouds import cloud_endpoints
from bot.hubs._start_only_polling import StartOnlyPolling
from bot.hubs.gateway import Forbidden, OperationState, Throttled, TransientError

if TYPE_CHECKING:
    from azure.mgmt.streamanalytics import StreamAnalyticsManagementClient
    from azure.mgmt.web import WebSiteManagementClient

log = logging.getLogger(__name__)

T = TypeVar("T")
# The ARM client for one kind of consumer in one subscription (a WebSiteManagementClient or a
# StreamAnalyticsManagementClient), for a caller that builds its own (its transport).
ConsumerClientFactory = Callable[[ConsumerKind, str], Any]
START_MODE = "LastOutputEventTime"  # the job picks up where its output stopped: no gap, no repeat
# Answers to a look at an operation that say nothing of the operation itself (a Location URL
# answers a failed operation with its own 4xx and error).
_UNSEEN = {401, 403, 404, 408, 429, 500, 502, 503, 504}
# What an answer of the wrong shape raises (a body that is not JSON, a field of another type).
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class Retries:
    attempts: int = 4  # requests per step (or per look at an operation), the first included
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(seconds=60)
    deadline: timedelta = timedelta(minutes=10)  # per consumer, every step and wait included
    poll_interval: float = 10.0  # seconds between looks when Azure sends no Retry-After
    request_timeout: float = 30.0


class _KeepingRetryAfter(StartOnlyPolling):
    """Also keeps the 202's ``Retry-After``: the first look waits for it, as ARMPolling would."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self.retry_after: float | None = None

    def initialize(self, client: Any, initial_response: Any,
                   deserialization_callback: Any) -> None:
        super().initialize(client, initial_response, deserialization_callback)
        self.retry_after = retry_after_seconds(initial_response.http_response.headers,
                                               self._clock.now())


class _StepEnded(Exception):
    """A step Azure refused or did not confirm: the outcome and Azure's words."""

    def __init__(self, step: Step, outcome: RestartOutcome, *, status: int | None = None,
                 code: str | None = None, message: str | None = None,
                 permission: str | None = None) -> None:
        super().__init__(message)
        self.step, self.outcome, self.status = step, outcome, status
        self.code, self.message, self.permission = code, message, permission


def _malformed(step: Step, err: Exception) -> _StepEnded:
    """An answer Azure's documents do not allow: whether the step happened is not known."""
    log.warning("an answer not in Azure's documented shape (%s: %.200s)",
                type(err).__name__, err)
    return _StepEnded(step, RestartOutcome.UNKNOWN, code="MalformedAnswer",
                      message="Azure's answer was not in the shape it documents")


class _Attempt:
    """One consumer's restart: its deadline, the requests it sent, its clock."""

    def __init__(self, clock: Clock, retries: Retries, jitter: Callable[[], float]) -> None:
        self.clock, self.retries, self.jitter = clock, retries, jitter
        self.started = clock.now()
        self.ends = self.started + retries.deadline
        self.requests = 0
        self.step = Step.RESTART  # the one under way

    def options(self) -> dict[str, Any]:
        left = max(0.001, (self.ends - self.clock.now()).total_seconds())
        timeout = min(self.retries.request_timeout, left)
        return {"retry_total": 0, "connection_timeout": min(10.0, timeout),
                "read_timeout": timeout}

    def send(self, step: Step, call: Callable[[], T], *, resend_after_lost: bool = True) -> T:
        """``call()``, again after throttling and transient errors; raises ``_StepEnded``."""
        failures, self.step = 0, step
        while True:
            self.requests += 1
            try:
                return call()
            except DecodeError as err:  # a 2xx whose body is not JSON
                raise _malformed(step, err) from err
            except AzureError as err:
                failures += 1
                now = self.clock.now()
                said = from_azure_error(err, now)
                status = getattr(err, "status_code", None)
                lost = isinstance(err, ServiceResponseError)
                if lost and not resend_after_lost:
                    raise _StepEnded(step, RestartOutcome.UNKNOWN, message=said.message) from err
                if not isinstance(said, (Throttled, TransientError)):
                    # An answer under 400 that the SDK could not use: Azure took the step.
                    refused = status is None or status >= 400
                    raise _StepEnded(step, RestartOutcome.FAILED if refused
                                     else RestartOutcome.UNKNOWN, status=status, code=said.code,
                                     message=said.message, permission=(
                                         said.permission if isinstance(said, Forbidden)
                                         else None)) from err
                delay = backoff_delay(failures, self.retries.base, self.retries.cap,
                                      said.retry_after, self.jitter())
                if failures >= self.retries.attempts or now + delay >= self.ends:
                    outcome = RestartOutcome.UNKNOWN if lost else RestartOutcome.FAILED
                    raise _StepEnded(step, outcome, status=status, code=said.code,
                                     message=said.message) from err
                self.clock.sleep(delay.total_seconds())

    def wait(self, step: Step, seconds: float) -> None:
        if self.clock.now() + timedelta(seconds=seconds) >= self.ends:
            raise _StepEnded(step, RestartOutcome.UNKNOWN, message=(
                f"still running after {self.retries.deadline.total_seconds():g}s"))
        self.clock.sleep(seconds)

    def seconds(self) -> float:
        return (self.clock.now() - self.started).total_seconds()


class AzureConsumerRestarts:
    """:class:`~bot.hubs.consumers.ConsumerRestarts` over the ARM API of one Azure cloud."""

    def __init__(self, credential: TokenCredential, *, cloud: str = "AzureCloud",
                 clock: Clock | None = None, retries: Retries | None = None,
                 jitter: Callable[[], float] = random.random,
                 client_factory: ConsumerClientFactory | None = None) -> None:
        self._credential = credential
        self._cloud = cloud_endpoints(cloud)
        self._clock = clock or SystemClock()
        self._retries = retries or Retries()
        self._jitter = jitter
        self._factory = client_factory or self._build
        self._clients: BuiltOnce[tuple[ConsumerKind, str], Any] = BuiltOnce()

    def restart_consumer(self, consumer: Consumer) -> RestartResult:
        attempt = _Attempt(self._clock, self._retries, self._jitter)
        try:
            if consumer.kind is ConsumerKind.FUNCTION_APP:
                self._restart_site(consumer, attempt)
            else:
                self._restart_job(consumer, attempt)
            result = RestartResult(consumer, RestartOutcome.RESTARTED, attempt.seconds(),
                                   attempt.requests)
        except _StepEnded as ended:
            result = RestartResult(consumer, ended.outcome, attempt.seconds(), attempt.requests,
                                   ended.step, ended.status, ended.code, ended.message,
                                   ended.permission)
        except _MALFORMED as err:
            unusable = _malformed(attempt.step, err)
            result = RestartResult(consumer, unusable.outcome, attempt.seconds(),
                                   attempt.requests, unusable.step, code=unusable.code,
                                   message=unusable.message)
        log.log(logging.INFO if result.ok else logging.WARNING, "%s: %s (%d requests)",
                consumer.resource_id, result.outcome.value, result.requests)
        return result

    # -- Function app ----------------------------------------------------------------------

    def _restart_site(self, consumer: Consumer, attempt: _Attempt) -> None:
        client: WebSiteManagementClient = self._client(consumer)
        attempt.send(Step.RESTART, lambda: client.web_apps.restart(
            consumer.resource_group, consumer.name, **attempt.options()))

    # -- Stream Analytics job --------------------------------------------------------------

    def _restart_job(self, consumer: Consumer, attempt: _Attempt) -> None:
        from azure.mgmt.streamanalytics.models import StartStreamingJobParameters

        client: StreamAnalyticsManagementClient = self._client(consumer)
        jobs = client.streaming_jobs

        def stop() -> _KeepingRetryAfter:
            polling = _KeepingRetryAfter(self._clock)
            jobs.begin_stop(consumer.resource_group, consumer.name, polling=polling,
                            **attempt.options())
            return polling

        def start() -> _KeepingRetryAfter:
            polling = _KeepingRetryAfter(self._clock)
            jobs.begin_start(consumer.resource_group, consumer.name,
                             StartStreamingJobParameters(output_start_mode=START_MODE),
                             polling=polling, **attempt.options())
            return polling

        self._follow(client, Step.STOP, attempt.send(Step.STOP, stop), attempt)
        try:
            self._follow(client, Step.START,
                         attempt.send(Step.START, start, resend_after_lost=False), attempt)
        except _StepEnded as ended:
            if ended.outcome is RestartOutcome.FAILED:
                ended.outcome = RestartOutcome.LEFT_STOPPED
            raise

    def _follow(self, client: Any, step: Step, started: _KeepingRetryAfter,
                attempt: _Attempt) -> None:
        """Look at the operation until it ends (no URL: Azure finished it at once)."""
        url, wait = started.operation_url, started.retry_after
        if url is None:
            return
        if not is_resource_manager_url(url, self._cloud):
            raise _StepEnded(step, RestartOutcome.UNKNOWN, code="InvalidOperationUrl",
                             message=f"Azure's operation URL is not on {self._cloud.name}'s "
                                     "Resource Manager: not followed")
        while True:
            attempt.wait(step, max(1.0, wait or self._retries.poll_interval))
            try:
                poll = attempt.send(step, lambda: look_once(client, url, self._clock.now(),
                                                            **attempt.options()))
            except _StepEnded as ended:
                if ended.status is None or ended.status in _UNSEEN:
                    # Azure took the step; only its end could not be seen.
                    ended.outcome = RestartOutcome.UNKNOWN
                raise
            if poll.state is OperationState.SUCCEEDED:
                return
            if poll.state is OperationState.FAILED:
                raise _StepEnded(step, RestartOutcome.FAILED, code=poll.error_code,
                                 message=poll.error_message)
            wait = poll.retry_after

    # -- clients ---------------------------------------------------------------------------

    def _client(self, consumer: Consumer) -> Any:
        return self._clients.get((consumer.kind, consumer.subscription_id.lower()),
                                 lambda: self._factory(consumer.kind, consumer.subscription_id))

    def _build(self, kind: ConsumerKind, subscription_id: str) -> Any:
        base_url, scopes = self._cloud.resource_manager, self._cloud.credential_scopes
        if kind is ConsumerKind.FUNCTION_APP:
            from azure.mgmt.web import WebSiteManagementClient

            return WebSiteManagementClient(self._credential, subscription_id,
                                           base_url=base_url, credential_scopes=scopes)
        from azure.mgmt.streamanalytics import StreamAnalyticsManagementClient

        return StreamAnalyticsManagementClient(self._credential, subscription_id,
                                               base_url=base_url, credential_scopes=scopes)
