"""The Azure gateway's two other services (``bot.hubs.azure_services``) over the simulated
fleet: Azure Monitor's minutes of its hubs (``HubMetrics``) and restarts of the consumers
their tags declare (``ConsumerRestarts``)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.domain.consumer_results import RestartResult
from bot.domain.consumers import Consumer
from bot.domain.model import HubRef
from bot.domain.timeline import Timeline
from bot.domain.verification import MetricMinutes
from failover_sandbox.fleet._faults import FaultInjection
from failover_sandbox.fleet._metrics import (
    Traffic,
    metric_minutes,
    metrics_denied,
    metrics_throttled,
)
from failover_sandbox.fleet._model import SIM_BOT_CALLER, SimHub, find_sim_hub, seeded_rng
from failover_sandbox.fleet._restarts import (
    denied,
    not_found,
    requests_for,
    restart_steps,
    restarted,
)


class MonitorAndConsumers(FaultInjection):
    """Part of :class:`~failover_sandbox.fleet.simulated.SimulatedIotHubGateway`, which adds
    the hubs (``_hubs``). Azure's time runs ``speed`` times faster than ``clock`` from now on
    (``timeline``); ``metrics_late``: how long after a minute ends Azure Monitor has all of
    it (Azure time). ``metric_reads`` counts metrics reads by hub name, refused ones too;
    ``consumer_restarts`` restarts asked, by the consumer's resource id."""

    _hubs: list[SimHub]

    def __init__(self, clock: Clock, *, speed: float, seed: int,
                 metrics_late: timedelta) -> None:
        super().__init__()
        self.clock = clock
        self.speed = speed
        self.timeline = Timeline(origin=clock.now(), scale=speed)
        self.metrics_late = metrics_late
        self.metric_reads: Counter[str] = Counter()
        self.consumer_restarts: Counter[str] = Counter()
        self._restart_times = seeded_rng(f"{seed}:restarts")

    def metric_minutes(self, ref: HubRef, start: datetime, end: datetime) -> MetricMinutes:
        """The hub's minutes from ``start``'s to ``end`` (Azure time), as Azure has them now."""
        with self._lock:
            self.metric_reads[ref.name] += 1
            hub = find_sim_hub(self._hubs, ref)
            if self._fault(ref.name, "metrics_forbidden"):
                raise metrics_denied(hub.ref, SIM_BOT_CALLER)
            if throttled := self._fault(ref.name, "throttle_metrics"):
                throttled.throttle_metrics -= 1
                raise metrics_throttled(throttled.retry_after)
            now = self.clock.now()
            hub.settle(now)
            moves, traffic = hub.moves(self.timeline), hub.traffic or Traffic(hub.devices, 1.0)
        return metric_minutes(traffic, moves, start, end, now=self.timeline.azure(now),
                              late=self.metrics_late)

    def restart_consumer(self, consumer: Consumer) -> RestartResult:
        """Restart a consumer that a hub of the fleet declares, blocking for Azure's time
        over ``speed``; one no hub declares is not found."""
        with self._lock:
            self.consumer_restarts[consumer.resource_id] += 1
            declaring = [hub.ref.name.lower() for hub in self._hubs if hub.consumers and any(
                c.key == consumer.key for c in hub.consumers.consumers)]
            if not declaring:
                return not_found(consumer)
            if self._consumer_fails(consumer.name, declaring):
                return denied(consumer, SIM_BOT_CALLER)
            steps = restart_steps(consumer.kind, self._restart_times)
        started = self.clock.now()
        for seconds in steps:  # not under the lock: the rest of the fleet goes on meanwhile
            self.clock.sleep(seconds / self.speed)
        # In Azure's time, as everything else the sandbox shows (the clock's, times speed).
        took = (self.clock.now() - started).total_seconds() * self.speed
        return restarted(consumer, took, requests_for(consumer.kind, steps))
