"""What every use case is built with: the ports, the clock, the policy and the settings.

One instance is shared by the use cases of a process, so a setting changed on it (a test's
shorter TTL, the poller's lease keeper) is seen by all of them.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot.domain.clock import Clock
from bot.domain.policy import AccessPolicy
from bot.domain.rules import Limits
from bot.domain.timeline import SAME_CLOCK, Timeline
from bot.domain.verification import VerifyRules
from bot.hubs.activity import ActivityLogReader
from bot.hubs.consumers import ConsumerRestarts
from bot.hubs.gateway import IotHubGateway
from bot.hubs.hub_metrics import HubMetrics
from bot.store.base import UnitOfWork
from bot.telemetry import Metrics


class LeaseKeeper(Protocol):
    """Keeps a request's lease alive while its owner works on it (the poller's heartbeat)."""

    def keep(self, request_id: str, owner: str) -> None: ...

    def drop(self, request_id: str, owner: str) -> None: ...


class _Unkept:
    """No heartbeat (a service without a poller): leases last their TTL."""

    def keep(self, request_id: str, owner: str) -> None:
        return None

    def drop(self, request_id: str, owner: str) -> None:
        return None


@dataclass
class ServiceDeps:
    """The ports and settings; read at each use, so a change here is seen at once."""

    uow: Callable[[], UnitOfWork]
    gateway: IotHubGateway
    clock: Clock
    limits: Limits = field(default_factory=Limits)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    request_ttl: timedelta = timedelta(minutes=30)
    poll_interval: timedelta = timedelta(seconds=30)
    metrics: Metrics | None = None
    # The lease a start holds on its row while its POST may be in flight, so that no poller
    # anywhere decides "nothing is running" meanwhile; the poller's heartbeat keeps it alive.
    lease_keeper: LeaseKeeper = field(default_factory=_Unkept)
    lease_ttl: timedelta = timedelta(seconds=15)
    start_owner: str = field(default_factory=lambda: f"start-{secrets.token_hex(4)}")
    max_backoff: timedelta = timedelta(minutes=5)
    rng: random.Random = field(default_factory=random.Random)
    # How much faster than Azure time runs (the sandbox's --speed): estimates shown are scaled.
    time_scale: float = 1.0
    activity: ActivityLogReader | None = None  # Azure's Activity Log; None: own records only
    # Regional batches: failover POSTs a minute, all batches together (ARM's write limits).
    batch_starts_per_minute: int = 30
    # After a move: its verification (None: off) from Azure Monitor's minutes, on Azure's
    # timeline, and the consumers of the endpoint restarted (None: listed, never acted on).
    verify_rules: VerifyRules | None = None
    hub_metrics: HubMetrics | None = None
    timeline: Timeline = SAME_CLOCK
    consumer_restarts: ConsumerRestarts | None = None
    # Drills: hubs marked for them by configuration (BOT_DRILL_HUBS), beside their tag.
    drill_hubs: frozenset[str] = frozenset()

    def use_leases(self, keeper: LeaseKeeper, owner: str, ttl: timedelta) -> None:
        """Wire the poller's heartbeat: starts hold leases as ``owner`` for ``ttl``."""
        self.lease_keeper, self.start_owner, self.lease_ttl = keeper, owner, ttl
