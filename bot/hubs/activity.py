"""The port through which the bot reads a hub's manual failovers from Azure's Activity Log,
and a cache in front of it.

Implementations: :mod:`bot.hubs.azure_activity` (azure-mgmt-monitor) and the simulated fleet.
A read may raise :class:`~bot.hubs.gateway.Forbidden` (the identity lacks
``Microsoft.Insights/eventtypes/values/Read``), ``Throttled`` or another ``GatewayError``;
callers then fall back to the bot's own records and say so.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.domain.clock import Clock
from bot.domain.history import ActivityOperation
from bot.domain.model import HubRef, HubState
from bot.hubs.gateway import GatewayError, IotHubGateway, OperationPoll, OperationState

# The Activity Log's own least-privilege action (what `doctor` and deploy/ name).
READ_PERMISSION = "Microsoft.Insights/eventtypes/values/Read"


@runtime_checkable
class ActivityLogReader(Protocol):
    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        """The hub's manual failover actions that began at or after ``since``, oldest first."""
        ...


class CachedActivityLog:
    """Per-hub answers kept for ``ttl``: the dialog, its submission and the approval come
    within seconds of each other and must not each wait for Azure. Failures are kept as long
    (or as long as Azure's Retry-After), then the log is asked again."""

    def __init__(self, inner: ActivityLogReader, clock: Clock, ttl: timedelta) -> None:
        self.inner = inner
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[HubRef, tuple[datetime, datetime, list[ActivityOperation]]] = {}
        self._failures: dict[HubRef, tuple[datetime, GatewayError]] = {}

    def failover_operations(self, ref: HubRef, since: datetime) -> list[ActivityOperation]:
        key = _key(ref)
        now = self._clock.now()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            fetched_at, fetched_since, operations = entry
            if now - fetched_at < self._ttl and fetched_since <= since:
                return [op for op in operations if op.started_at >= since]
        with self._lock:
            failed = self._failures.get(key)
        if failed is not None and now < failed[0]:
            raise failed[1]
        try:
            operations = self.inner.failover_operations(ref, since)
        except GatewayError as exc:
            # Remembered too, so a missing permission or throttling does not cost every
            # dialog a round trip; a throttled read waits as long as Azure asks.
            wait = max(self._ttl.total_seconds(), exc.retry_after or 0.0)
            with self._lock:
                self._failures[key] = (now + timedelta(seconds=wait), exc)
            raise
        with self._lock:
            self._entries[key] = (now, since, operations)
            self._failures.pop(key, None)
        return operations

    def invalidate(self, ref: HubRef) -> None:
        with self._lock:
            self._entries.pop(_key(ref), None)
            self._failures.pop(_key(ref), None)


def _key(ref: HubRef) -> HubRef:
    return HubRef(ref.name.lower(), ref.subscription_id.lower(), ref.resource_group.lower())


class InvalidatingGateway:
    """A gateway that forgets a hub's cached Activity Log when the bot starts or finishes an
    operation on it, so the next quota check sees the change at once."""

    def __init__(self, inner: IotHubGateway, cache: CachedActivityLog) -> None:
        self.inner = inner
        self.cache = cache

    def list_hubs(self) -> list[HubState]:
        return self.inner.list_hubs()

    def resolve(self, name: str) -> HubRef:
        return self.inner.resolve(name)

    def get_state(self, ref: HubRef, *, with_device_count: bool = True) -> HubState:
        return self.inner.get_state(ref, with_device_count=with_device_count)

    def start_failover(self, ref: HubRef, target_region: str) -> str:
        try:
            return self.inner.start_failover(ref, target_region)
        finally:
            self.cache.invalidate(ref)

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        poll = self.inner.poll(ref, handle)
        if poll.state is not OperationState.RUNNING:
            self.cache.invalidate(ref)
        return poll
