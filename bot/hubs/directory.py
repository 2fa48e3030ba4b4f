"""Finding a hub by name in a cached list of every visible hub: shared by the Azure gateway
and the sandbox's simulated fleet, hence public."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.model import HubRef, HubState
from bot.hubs.gateway import AmbiguousHub, HubNotFound


def find_hub(hubs: Sequence[HubState], name: str) -> HubRef | None:
    """The hub called ``name`` (any case); AmbiguousHub when several match."""
    wanted = name.strip().lower()
    matches = [hub.ref for hub in hubs if hub.ref.name.lower() == wanted]
    if len(matches) > 1:
        where = ", ".join(f"{m.subscription_id}/{m.resource_group}" for m in matches)
        raise AmbiguousHub(f"Several hubs are called `{name}`: {where}.", candidates=matches)
    return matches[0] if matches else None


class HubDirectory:
    """The list of hubs, reloaded when older than ``ttl`` and once on a name it cannot find."""

    def __init__(self, load: Callable[[], list[HubState]], ttl: timedelta, clock: Clock) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._hubs: list[HubState] = []
        self._loaded_at: datetime | None = None

    def hubs(self) -> list[HubState]:
        return self._get(force=False)[0]

    def resolve(self, name: str) -> HubRef:
        hubs, reloaded = self._get(force=False)
        ref = find_hub(hubs, name)
        if ref is None and not reloaded:
            # The hub may have been created since the list was read.
            hubs, _ = self._get(force=True)
            ref = find_hub(hubs, name)
        if ref is None:
            raise HubNotFound(f"No IoT hub called `{name}` in the configured subscriptions.",
                              code="HubNotFound")
        return ref

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    def _get(self, *, force: bool) -> tuple[list[HubState], bool]:
        with self._lock:
            now = self._clock.now()
            fresh = self._loaded_at is not None and now - self._loaded_at < self._ttl
            if fresh and not force:
                return list(self._hubs), False
            self._hubs = self._load()
            self._loaded_at = now
            return list(self._hubs), True
