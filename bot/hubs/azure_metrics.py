"""A hub's per-minute metrics from Azure Monitor, through azure-mgmt-monitor.

``GET /{hub's resource id}/providers/Microsoft.Insights/metrics`` (api-version 2024-02-01,
the SDK's) with ``interval=PT1M`` and a ``timespan`` on whole minutes. Each metric is asked
for its own aggregation in its own request (two requests a read): ``connectedDeviceCount``
is a snapshot count whose documented aggregations are Average, Minimum and Maximum, and
``d2c.telemetry.ingress.success`` counts messages (Total); one request asking both for
"Average,Total" would ask a snapshot count for a Total, which Azure may refuse for the whole
request. Same credential, cloud and no-retry options as the IoT Hub client
(:mod:`bot.hubs.azure`), and a read is bounded (:mod:`bot.hubs.bounded`): one deadline for
both requests; a malformed answer is "could not read"; a metric Azure answers with an error
of its own (``errorCode`` in a 200) is a ``GatewayError`` with Azure's words.

azure-mgmt-monitor is imported when the first client is built, never at start-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core.credentials import TokenCredential

from bot.domain.clock import Clock, SystemClock
from bot.domain.model import HubRef
from bot.domain.verification import (
    DEVICES,
    DEVICES_AGGREGATION,
    TELEMETRY,
    TELEMETRY_AGGREGATION,
    MetricMinutes,
    MinutePoint,
    ceil_minute,
    floor_minute,
)
from bot.hubs._clouds import cloud_endpoints
from bot.hubs._monitor_clients import MonitorClients, MonitorFactory
from bot.hubs.bounded import DEFAULT_DEADLINE, ReadLimits, bounded_read
from bot.hubs.gateway import GatewayError

if TYPE_CHECKING:
    pass

GRAIN = "PT1M"
# What is asked, in order: each metric with the aggregation the verdict reads.
QUERIES = ((DEVICES, DEVICES_AGGREGATION), (TELEMETRY, TELEMETRY_AGGREGATION))


def resource_uri(ref: HubRef) -> str:
    """The hub's ARM id as the metrics operation takes it (no leading slash, as in Azure's
    own example: the SDK puts one before it)."""
    return (f"subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
            f"/providers/Microsoft.Devices/IotHubs/{ref.name}")


def timespan(start: datetime, end: datetime) -> str:
    return f"{_iso(start)}/{_iso(end)}"


class AzureHubMetrics:
    """:class:`~bot.hubs.hub_metrics.HubMetrics` over one Azure cloud."""

    def __init__(self, credential: TokenCredential, *, cloud: str = "AzureCloud",
                 clock: Clock | None = None, client_factory: MonitorFactory | None = None,
                 read_deadline: float = DEFAULT_DEADLINE) -> None:
        self._cloud = cloud_endpoints(cloud)
        self._clock = clock or SystemClock()
        self._limits = ReadLimits(read_deadline, max_pages=1)  # not a paged operation
        self._clients = MonitorClients(credential, self._cloud, client_factory)

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        first, last = floor_minute(start.astimezone(UTC)), ceil_minute(end.astimezone(UTC))
        if last <= first:
            return MetricMinutes()
        client = self._clients(ref.subscription_id)
        with bounded_read(f"Azure Monitor's metrics of `{ref.name}`", self._clock,
                          self._limits) as read:
            series: dict[str, tuple[MinutePoint, ...]] = {}
            for metric, aggregation in QUERIES:
                answer = client.metrics.list(resource_uri(ref), timespan=timespan(first, last),
                                             interval=GRAIN, metricnames=metric,
                                             aggregation=aggregation, **read.options())
                series[metric] = points(answer, ref, metric, aggregation, first, last)
            return MetricMinutes(series[DEVICES], series[TELEMETRY])


def points(answer: Any, ref: HubRef, metric: str, aggregation: str, first: datetime,
           last: datetime) -> tuple[MinutePoint, ...]:
    """The minutes of ``metric`` in Azure's answer (a ``Response``) from ``first`` to
    ``last``; a minute Azure sent without the aggregation is empty. Raises ``ValueError``
    on an answer not in the documented shape."""
    if answer.interval is not None and str(answer.interval).upper() != GRAIN:
        raise ValueError(f"asked for {GRAIN}, answered at {answer.interval}")
    found = [m for m in answer.value if (m.name.value or "").lower() == metric.lower()]
    if len(found) != 1:
        raise ValueError(f"{len(found)} answers for {metric}")
    answered = found[0]
    if answered.error_code not in (None, "", "Success"):
        raise GatewayError(f"Azure Monitor gave no {metric} for `{ref.name}`: "
                           f"{answered.error_message or answered.error_code}",
                           code=answered.error_code)
    if len(answered.timeseries) > 1:  # no dimension was asked for: one series, or none
        raise ValueError(f"{len(answered.timeseries)} series of {metric}")
    field = aggregation.lower()
    minutes = []
    for series in answered.timeseries:
        for point in series.data:
            if point.time_stamp is None:
                raise ValueError("a data point without timeStamp")
            start = _utc(point.time_stamp)
            if first <= start < last:
                value = getattr(point, field)
                minutes.append(MinutePoint(start, None if value is None else float(value)))
    return tuple(minutes)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
