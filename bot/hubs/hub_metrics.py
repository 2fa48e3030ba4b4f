"""The port through which the bot reads a hub's per-minute metrics from Azure Monitor, to
judge whether the hub runs again after a move (:mod:`bot.domain.verification`).

Implementations: :mod:`bot.hubs.azure_metrics` (azure-mgmt-monitor; the Azure gateway hands
reads to it, with its own credential and cloud). A read may raise
:class:`~bot.hubs.gateway.Forbidden` (the identity lacks ``Microsoft.Insights/metrics/read``),
``Throttled``, ``CouldNotRead`` (too slow, malformed) or another ``GatewayError`` with Azure's
words; the verdict then says "could not verify", never guesses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.domain.model import HubRef
from bot.domain.verification import MetricMinutes

# The metrics' own least-privilege action (what `doctor` and deploy/ name).
READ_PERMISSION = "Microsoft.Insights/metrics/read"


@runtime_checkable
class HubMetrics(Protocol):
    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        """``connectedDeviceCount`` (Average) and ``d2c.telemetry.ingress.success`` (Total)
        of the hub, a point per minute from ``start``'s minute up to ``end`` (rounded up to
        a minute), as Azure has them now: the latest minutes may still be partial."""
        ...
