"""Any IoT Hub gateway, with each call's latency and errors counted in the metrics."""

from __future__ import annotations

from datetime import datetime

from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState
from bot.domain.verification import MetricMinutes
from bot.hubs.activity import ActivityLogReader
from bot.hubs.gateway import IotHubGateway, OperationPoll
from bot.hubs.hub_metrics import HubMetrics
from bot.telemetry import Metrics


class MeteredGateway:
    def __init__(self, inner: IotHubGateway, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def list_hubs(self) -> list[HubState]:
        with self._metrics.azure_call("list_hubs"):
            return self.inner.list_hubs()

    def resolve(self, name: str) -> HubRef:
        with self._metrics.azure_call("resolve"):
            return self.inner.resolve(name)

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        with self._metrics.azure_call("get_state"):
            return self.inner.get_state(ref, with_device_count=with_device_count)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        with self._metrics.azure_call("start_failover"):
            return self.inner.start_failover(ref, target_region)

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        with self._metrics.azure_call("poll"):
            return self.inner.poll(ref, handle)


class MeteredActivityLog:
    def __init__(self, inner: ActivityLogReader, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        with self._metrics.azure_call("activity_log"):
            return self.inner.failover_operations(ref, since)


class MeteredHubMetrics:
    def __init__(self, inner: HubMetrics, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        with self._metrics.azure_call("metric_minutes"):
            return self.inner.metric_minutes(ref, start, end)
