"""The port through which the bot acts on a consumer of a hub's Event Hub-compatible endpoint
once Azure reports a failover Succeeded.

Implementation: :mod:`bot.hubs.azure_consumers` (azure-mgmt-web, azure-mgmt-streamanalytics),
reached through the Azure gateway so that it shares its credential and cloud. One call acts on
one consumer once, blocking for as long as Azure takes (a Stream Analytics job's stop and
start take minutes) within a bounded deadline; it never raises for what Azure answered: a
refusal, a throttle that outlasted the retries or silence is a :class:`RestartResult`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.domain.consumer_results import RestartResult
from bot.domain.consumers import Consumer

# The least-privilege actions of deploy/azure-custom-role.json that restarting needs.
RESTART_PERMISSIONS = (
    "Microsoft.Web/sites/restart/action",
    "Microsoft.StreamAnalytics/streamingjobs/stop/action",
    "Microsoft.StreamAnalytics/streamingjobs/start/action",
)


@runtime_checkable
class ConsumerRestarts(Protocol):
    def restart_consumer(self, consumer: Consumer) -> RestartResult:
        """Restart a Function app, or stop a Stream Analytics job and start it again from its
        last output; retry throttling and transient errors with back-off, bounded."""
        ...
