"""The Azure services the gateway reaches beside IoT Hub — the Activity Log, Azure Monitor's
metrics, the consumers' Function apps and Stream Analytics jobs — each client built at first
use with the gateway's credential and cloud: their SDKs are imported only by a process that
uses them (the work process, after its first move), never at start-up."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from azure.core.credentials import TokenCredential

from bot.domain.clock import Clock
from bot.domain.model import HubRef
from bot.hubs._clouds import cloud_endpoints
from bot.hubs._monitor_clients import MonitorClients, MonitorFactory

if TYPE_CHECKING:
    from bot.domain.consumer_results import RestartResult
    from bot.domain.consumers import Consumer
    from bot.domain.history import ActivityOperation
    from bot.domain.permissions import Permission
    from bot.domain.verification import MetricMinutes
    from bot.hubs.azure_activity import AzureActivityLog
    from bot.hubs.azure_consumers import AzureConsumerRestarts, ConsumerClientFactory
    from bot.hubs.azure_metrics import AzureHubMetrics


class AzureServices:
    def __init__(self, credential: TokenCredential, *, cloud: str, clock: Clock,
                 read_deadline: float, monitor_factory: MonitorFactory | None = None,
                 consumer_factory: ConsumerClientFactory | None = None) -> None:
        self._credential, self._cloud, self._clock = credential, cloud, clock
        self._consumer_factory = consumer_factory
        self._read_deadline = read_deadline
        # One Azure Monitor client per subscription, shared by the Activity Log and metrics.
        self._monitor = MonitorClients(credential, cloud_endpoints(cloud), monitor_factory)
        self._lock = threading.Lock()
        self._activity: AzureActivityLog | None = None
        self._metrics: AzureHubMetrics | None = None
        self._consumers: AzureConsumerRestarts | None = None

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        """The hub's manual failovers, whoever made them (``ActivityLogReader``)."""
        with self._lock:
            if self._activity is None:
                from bot.hubs.azure_activity import AzureActivityLog

                self._activity = AzureActivityLog(self._credential, cloud=self._cloud,
                                                  clock=self._clock, client_factory=self._monitor,
                                                  read_deadline=self._read_deadline)
        return self._activity.failover_operations(ref, since)

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        """The hub's per-minute metrics for verification (``HubMetrics``)."""
        with self._lock:
            if self._metrics is None:
                from bot.hubs.azure_metrics import AzureHubMetrics

                self._metrics = AzureHubMetrics(self._credential, cloud=self._cloud,
                                                clock=self._clock, client_factory=self._monitor,
                                                read_deadline=self._read_deadline)
        return self._metrics.metric_minutes(ref, start, end)

    def restart_consumer(self, consumer: Consumer) -> RestartResult:
        """Act on one consumer of the Event Hub-compatible endpoint (``ConsumerRestarts``)."""
        with self._lock:
            if self._consumers is None:
                from bot.hubs.azure_consumers import AzureConsumerRestarts

                self._consumers = AzureConsumerRestarts(
                    self._credential, cloud=self._cloud, clock=self._clock,
                    client_factory=self._consumer_factory)
        return self._consumers.restart_consumer(consumer)

    def permissions_on(self, subscription_id: str, resource_group: str) -> list[Permission]:
        """What the identity may do there (``doctor``'s check of the optional permissions)."""
        from bot.hubs.azure_permissions import AzurePermissions

        return AzurePermissions(self._credential, cloud_endpoints(self._cloud),
                                self._clock).permissions_on(subscription_id, resource_group)
