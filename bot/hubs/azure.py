"""The gateway to real IoT Hubs, through azure-mgmt-iothub.

Nothing here sleeps or retries on its own: every call gives azure-core ``retry_total=0`` and
reports Throttled/TransientError with Azure's ``Retry-After``, so the caller (the poller, with
its injected clock) decides when to look again. The failover POST in particular is never
repeated: when its answer is lost, the hub is re-read to find out whether Azure took it.
Reads are bounded (:mod:`bot.hubs.bounded`): those a person waits for (a hub, the hub list)
by ``read_deadline``, each paged list by a page cap; a malformed answer is "could not read".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.iothub import IotHubClient
from azure.mgmt.iothub.models import FailoverInput

from bot.domain.clock import Clock, SystemClock
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState
from bot.domain.permissions import Permission
from bot.domain.regions import display_name
from bot.hubs._azure_errors import from_azure_error, from_http_error, retry_after_seconds
from bot.hubs._azure_mapping import hub_state, operation_poll, ref_from_id
from bot.hubs._azure_pipeline import send_through
from bot.hubs._built_once import BuiltOnce
from bot.hubs._clouds import authority_for, cloud_endpoints
from bot.hubs._monitor_clients import MonitorFactory
from bot.hubs._start_only_polling import StartOnlyPolling
from bot.hubs.azure_services import AzureServices
from bot.hubs.bounded import DEFAULT_DEADLINE, ReadLimits, bounded_read
from bot.hubs.directory import HubDirectory
from bot.hubs.gateway import (
    CouldNotRead,
    GatewayError,
    OperationPoll,
    OperationState,
    TransientError,
)
from bot.hubs.handles import HubStateHandle, poll_from_state, started_towards

if TYPE_CHECKING:
    from bot.domain.consumer_results import RestartResult
    from bot.domain.consumers import Consumer
    from bot.domain.verification import MetricMinutes
    from bot.hubs.azure_consumers import ConsumerClientFactory

__all__ = ["AzureIotHubGateway", "authority_for"]

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], IotHubClient]
# Pages of one subscription's hub list (ARM pages it; a bigger estate raises the deadline
# before it reaches this).
HUB_LIST_MAX_PAGES = 100


class AzureIotHubGateway:
    """:class:`~bot.hubs.gateway.IotHubGateway` over the ARM API of one Azure cloud."""

    def __init__(
        self,
        credential: TokenCredential,
        subscription_ids: Sequence[str],
        *,
        cloud: str = "AzureCloud",
        cache_ttl: timedelta = timedelta(minutes=5),
        clock: Clock | None = None,
        client_factory: ClientFactory | None = None,
        monitor_factory: MonitorFactory | None = None,
        consumer_factory: ConsumerClientFactory | None = None,
        request_timeout: float = 30.0,
        read_deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self._credential = credential
        self._subscription_ids = list(subscription_ids)
        self._cloud = cloud_endpoints(cloud)
        self._clock = clock or SystemClock()
        self._client_factory = client_factory or self._build_client
        self._timeout = request_timeout
        self._read_deadline = read_deadline
        self._clients: BuiltOnce[str, IotHubClient] = BuiltOnce()
        self._directory = HubDirectory(self._load_hubs, cache_ttl, self._clock)
        self._services = AzureServices(credential, cloud=self._cloud.name, clock=self._clock,
                                       read_deadline=read_deadline,
                                       monitor_factory=monitor_factory,
                                       consumer_factory=consumer_factory)

    # -- reading -------------------------------------------------------------------------

    def list_hubs(self) -> list[HubState]:
        return self._directory.hubs()

    def resolve(self, name: str) -> HubRef:
        return self._directory.resolve(name)

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        return self._read_state(ref, with_device_count, self._read_deadline)

    def _read_state(self, ref: HubRef, with_device_count: bool, deadline: float) -> HubState:
        client = self._client(ref.subscription_id)
        with bounded_read(f"the hub `{ref.name}`", self._clock, ReadLimits(deadline)) as read:
            description = client.iot_hub_resource.get(ref.resource_group, ref.name,
                                                      **read.options())
            devices = None
            if with_device_count:
                stats = client.iot_hub_resource.get_stats(ref.resource_group, ref.name,
                                                          **read.options())
                devices = stats.total_device_count
            return hub_state(description, ref, devices)

    # -- failover ------------------------------------------------------------------------

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        client = self._client(ref.subscription_id)
        polling = StartOnlyPolling()
        failover_input = FailoverInput(failover_region=display_name(target_region))
        try:
            client.iot_hub.begin_manual_failover(ref.name, ref.resource_group, failover_input,
                                                 polling=polling, **self._options())
        except ClientAuthenticationError as err:
            # No token (the POST was never sent) or ARM's 401: Azure did not take it.
            raise from_azure_error(err, self._clock.now()) from err
        except (ServiceRequestError, ServiceResponseError) as err:
            return self._after_lost_answer(ref, target_region, err)
        except HttpResponseError as err:
            if (err.status_code or 0) >= 500:
                return self._after_lost_answer(ref, target_region, err)
            raise from_azure_error(err, self._clock.now()) from err
        except AzureError as err:
            raise from_azure_error(err, self._clock.now()) from err
        self._directory.invalidate()
        if polling.operation_url:
            return polling.operation_url
        # Azure answered without an operation URL: follow the hub itself.
        return str(HubStateHandle(ref, target_region))

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        by_state = HubStateHandle.parse(handle)
        if by_state is not None:
            hub = self.get_state(by_state.ref, with_device_count=False)
            return poll_from_state(hub, by_state.target_region)
        self._check_operation_url(handle)
        client = self._client(ref.subscription_id)
        now = self._clock.now()
        # Nobody waits for a poll: the deadline is the request's usual timeout.
        with bounded_read("the operation's status", self._clock,
                          ReadLimits(self._timeout)) as read:
            # The client's own pipeline: authenticated for this cloud, no retry sleeps.
            response = send_through(client, HttpRequest("GET", handle), **read.options())
            if response.status_code >= 400:
                raise from_http_error(HttpResponseError(response=response,
                                                        error_format=ARMErrorFormat), now)
            retry_after = retry_after_seconds(response.headers, now)
            body: Any = response.json() if response.text().strip() else None
            if isinstance(body, dict) and "status" in body:
                return operation_poll(body, retry_after)
        # A Location URL (kept when Azure sent no Azure-AsyncOperation): 202 until done.
        if response.status_code == 202:
            return OperationPoll(OperationState.RUNNING, retry_after=retry_after)
        return OperationPoll(OperationState.SUCCEEDED)

    # -- the other Azure services, built at first use (bot.hubs.azure_services) ----------

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        return self._services.failover_operations(ref, since)

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        return self._services.metric_minutes(ref, start, end)

    def restart_consumer(self, consumer: Consumer) -> RestartResult:
        return self._services.restart_consumer(consumer)

    def permissions_on(self, subscription_id: str, resource_group: str) -> list[Permission]:
        return self._services.permissions_on(subscription_id, resource_group)

    # -- helpers -------------------------------------------------------------------------

    def _after_lost_answer(self, ref: HubRef, target_region: str, err: AzureError) -> str:
        """The start got no usable answer: Azure may or may not have begun. Look, never re-POST."""
        log.warning("failover of %s got no answer (%s); re-reading the hub", ref.name,
                    type(err).__name__)
        try:
            # Nobody waits for this answer, and a lost one is worse: the usual timeout.
            hub = self._read_state(ref, False, self._timeout)
        except GatewayError as read_err:
            if not isinstance(err, ServiceResponseError):
                # Azure answered 5xx, or the request never left (ServiceRequestError): not
                # taken. The next attempt re-reads the hub before it POSTs again.
                raise TransientError(
                    f"Azure could not take the failover request for `{ref.name}` "
                    f"({_what_failed(err)}), and the hub could not be re-read "
                    f"({read_err.message}). It will be tried again.",
                    code="FailoverNotStarted", retry_after=_retry_after(err, self._clock),
                ) from err
            raise GatewayError(
                f"Azure did not answer the failover request for `{ref.name}` and the hub could "
                f"not be re-read ({read_err.message}). The failover may have started: check "
                "the hub before trying again.",
                code="FailoverOutcomeUnknown",
            ) from err
        if started_towards(hub, target_region):
            log.info("%s is %s/%s after the lost answer: following it by its state",
                     ref.name, hub.state, hub.provisioning_state)
            return str(HubStateHandle(ref, target_region))
        raise TransientError(
            f"Azure did not take the failover request for `{ref.name}` ({_what_failed(err)}), "
            f"and the hub is still Active in {hub.active_display}: the failover was NOT "
            "started. It is safe to try again.",
            code="FailoverNotStarted", retry_after=_retry_after(err, self._clock),
        ) from err

    def _check_operation_url(self, handle: str) -> None:
        # The pipeline attaches a bearer token: never send it to a host of someone else's.
        url = urlparse(handle)
        if url.scheme != "https" or url.hostname != self._cloud.resource_manager_host:
            raise GatewayError(
                f"The operation handle is not an {self._cloud.name} Resource Manager URL.",
                code="InvalidOperationHandle",
            )

    def _options(self) -> dict[str, Any]:
        return {"retry_total": 0, "connection_timeout": min(10.0, self._timeout),
                "read_timeout": self._timeout}

    def _client(self, subscription_id: str) -> IotHubClient:
        return self._clients.get(subscription_id,
                                 lambda: self._client_factory(subscription_id))

    def _build_client(self, subscription_id: str) -> IotHubClient:
        return IotHubClient(
            self._credential,
            subscription_id,
            base_url=self._cloud.resource_manager,
            credential_scopes=self._cloud.credential_scopes,
        )

    def _load_hubs(self) -> list[HubState]:
        """Every subscription's hubs, or an error: a partial list is never returned (a
        regional failover must not miss hubs silently). One deadline for all subscriptions."""
        hubs: list[HubState] = []
        limits = ReadLimits(self._read_deadline, HUB_LIST_MAX_PAGES)
        try:
            with bounded_read("the list of IoT hubs", self._clock, limits) as read:
                for subscription_id in self._subscription_ids:
                    client = self._client(subscription_id)
                    for description in read.pages(
                            client.iot_hub_resource.list_by_subscription(**read.options())):
                        ref = ref_from_id(description.id or "", description.name or "",
                                          subscription_id)
                        hubs.append(hub_state(description, ref))
        except CouldNotRead as exc:
            raise CouldNotRead(f"{exc.message} Hubs may be missing from what was read, so "
                               "none of it is used: try again in a minute.",
                               code=exc.code or "CouldNotRead", reason=exc.reason) from exc
        return hubs


def _what_failed(err: AzureError) -> str:
    if isinstance(err, HttpResponseError) and err.status_code:
        return f"HTTP {err.status_code}: {err.message}"
    return f"{type(err).__name__}: {err.message}"


def _retry_after(err: AzureError, clock: Clock) -> float | None:
    response = getattr(err, "response", None)
    return retry_after_seconds(getattr(response, "headers", None), clock.now())
