"""Azure's Activity Log through azure-mgmt-monitor: a hub's manual failovers, whoever made them.

``GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values``
(api-version 2015-04-01) with ``$filter=eventTimestamp ge '…' and resourceUri eq '<hub id>'``.
Azure writes several events per operation (Started, Accepted, then Succeeded or Failed), all
with one operation id: they are folded into one :class:`ActivityOperation`. Same credential,
cloud and no-retry options as the IoT Hub client (:mod:`bot.hubs.azure`). A read is bounded
(:mod:`bot.hubs.bounded`): a deadline, a page cap, and a malformed answer is "could not read".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential

from bot.domain.clock import Clock, SystemClock
from bot.domain.history import FAILOVER_ACTION, ActivityOperation, Outcome, outcome_of
from bot.domain.model import HubRef
from bot.hubs._clouds import cloud_endpoints
from bot.hubs._monitor_clients import MonitorClients, MonitorFactory
from bot.hubs.bounded import DEFAULT_DEADLINE, ReadLimits, bounded_read

# The first-party apps people fail hubs over with (the ``appid`` claim of the event).
WELL_KNOWN_APPS = {
    "c44b4083-3bb0-49c1-b47d-974e53cbdf3c": "Azure portal",
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46": "Azure CLI",
    "1950a258-227b-4e31-a9cf-717495945fc2": "Azure PowerShell",
}
# No $select: its documented values leave out ``caller``, and one hub's events are few.
_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
# One hub's events over at most 89 days (every action on it, not only failovers).
MAX_PAGES = 50



def hub_resource_id(ref: HubRef) -> str:
    return (f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
            f"/providers/Microsoft.Devices/IotHubs/{ref.name}")


def activity_filter(ref: HubRef, since: datetime) -> str:
    at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"eventTimestamp ge '{at}' and resourceUri eq '{hub_resource_id(ref)}'"


class AzureActivityLog:
    """:class:`~bot.hubs.activity.ActivityLogReader` over one Azure cloud."""

    def __init__(self, credential: TokenCredential, *, cloud: str = "AzureCloud",
                 clock: Clock | None = None, client_factory: MonitorFactory | None = None,
                 read_deadline: float = DEFAULT_DEADLINE) -> None:
        self._cloud = cloud_endpoints(cloud)
        self._clock = clock or SystemClock()
        self._limits = ReadLimits(read_deadline, MAX_PAGES)
        self._clients = MonitorClients(credential, self._cloud, client_factory)

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        client = self._clients(ref.subscription_id)
        with bounded_read(f"Azure's Activity Log of `{ref.name}`", self._clock,
                          self._limits) as read:
            events = read.pages(client.activity_logs.list(filter=activity_filter(ref, since),
                                                          **read.options()))
            hub_id = hub_resource_id(ref).lower()
            return fold([e for e in events if (e.resource_id or "").lower() == hub_id])


def fold(events: Iterable[Any]) -> list[ActivityOperation]:
    """The failover actions among ``events`` (EventData), one per operation id, oldest first."""
    grouped: dict[str, list[Any]] = {}
    for event in events:
        name = getattr(event.operation_name, "value", None) or ""
        if name.lower() != FAILOVER_ACTION:
            continue
        if event.event_timestamp is None:  # Azure always sends one: not to be skipped quietly
            raise ValueError("a failover event without eventTimestamp")
        key = event.operation_id or event.correlation_id or event.event_data_id or ""
        grouped.setdefault(key, []).append(event)
    operations = []
    for key, group in grouped.items():
        group.sort(key=lambda e: e.event_timestamp)
        first, last = group[0], group[-1]
        status = getattr(last.status, "value", None) or "Started"
        ended = outcome_of(status) is not Outcome.RUNNING
        caller = next((e.caller for e in group if e.caller), "") or next(
            (_caller_from(e.claims) for e in group if e.claims), "")
        app = next((str(e.claims.get("appid", "")) for e in group if e.claims), "")
        operations.append(ActivityOperation(
            operation_id=key, correlation_id=first.correlation_id or "", caller=caller,
            started_at=_utc(first.event_timestamp), status=status,
            ended_at=_utc(last.event_timestamp) if ended else None,
            client=WELL_KNOWN_APPS.get(app.lower())))
    return sorted(operations, key=lambda op: op.started_at)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _caller_from(claims: dict[str, str]) -> str:
    """Who, when the event has no ``caller``: the user's UPN, else the app's id."""
    return str(claims.get(_UPN) or claims.get("name") or claims.get("appid") or "")
