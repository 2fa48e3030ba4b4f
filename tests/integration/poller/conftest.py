"""A poller test bench: a fake clock, the simulated fleet, the real SQL store, a recording
notifier standing in for Slack, and helpers to start operations and run rounds."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import HubRef, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.hubs.gateway import OperationPoll
from bot.notifications import CompletionReport, Milestone, ProgressUpdate
from bot.poller import Poller, RateLimitedNotifier
from bot.service import FailoverService, SubmitFailover, Submitted
from bot.store.sql import SqlUnitOfWork
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

POLL_INTERVAL = timedelta(seconds=10)
LEASE_TTL = timedelta(seconds=60)
REQUESTER = Actor("U_REQUESTER")


@dataclass(frozen=True)
class Sent:
    """One call that reached "Slack" (the output side of the rate limiter)."""

    at: datetime
    method: str  # request_changed | progress | milestone | completed
    request_id: str
    channel: str
    status: RequestStatus
    milestone: Milestone | None = None


class RecordingNotifier:
    """Stands in for the Slack notifier: remembers what it was told; can be made to fail."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[Sent] = []
        self.reports: list[CompletionReport] = []
        self.down = False
        self._lock = threading.Lock()

    def request_changed(self, request: FailoverRequest) -> None:
        self._record("request_changed", request)

    def progress(self, update: ProgressUpdate) -> None:
        method = "milestone" if update.milestone else "progress"
        self._record(method, update.request, update.milestone)

    def completed(self, report: CompletionReport) -> None:
        self._record("completed", report.request)
        self.reports.append(report)

    def _record(self, method: str, request: FailoverRequest,
                milestone: Milestone | None = None) -> None:
        if self.down:
            raise ConnectionError("slack.com is unreachable")
        with self._lock:
            self.sent.append(Sent(self.clock.now(), method, request.id, request.channel_id,
                                  request.status, milestone))

    def of(self, method: str, request_id: str | None = None) -> list[Sent]:
        return [s for s in self.sent
                if s.method == method and (request_id is None or s.request_id == request_id)]

    def milestones(self, request_id: str) -> list[Milestone | None]:
        return [s.milestone for s in self.of("milestone", request_id)]


@dataclass
class Bench:
    clock: FakeClock
    gateway: WatchedGateway
    uow: Callable[[], SqlUnitOfWork]
    slack: RecordingNotifier
    service: FailoverService = field(init=False)

    def __post_init__(self) -> None:
        self.service = FailoverService(
            uow=self.uow, gateway=self.gateway, clock=self.clock,
            access=AccessPolicy(require_approval=False), poll_interval=POLL_INTERVAL)

    def poller(self, owner: str = "replica-a", *, notifier: RateLimitedNotifier | None = None,
               max_workers: int = 4, batch_size: int = 100, seed: int = 1) -> Poller:
        return Poller(self.service, self.uow, notifier or self.slack, self.clock,
                      owner_id=owner, poll_interval=POLL_INTERVAL, lease_ttl=LEASE_TTL,
                      max_workers=max_workers, batch_size=batch_size, rng=random.Random(seed))

    def hub(self, name: str, devices: int = 1_000, home: str = "West Europe") -> str:
        self.gateway.add_hub(name, home, devices)
        return name

    def request(self, hub: str, channel: str = "C_INCIDENT") -> FailoverRequest:
        """Submit and auto-approve a failover (the Slack path, minus Slack)."""
        state = self.gateway.get_state(self.gateway.resolve(hub), with_device_count=False)
        result = self.service.asking.submit(SubmitFailover(
            actor=REQUESTER, channel_id=channel, hub_name=hub, kind=OperationKind.FAILOVER,
            typed_name=hub, reason="INC-7 region outage",
            expected_active_region=state.active_region))
        assert isinstance(result, Submitted), result
        return result.request

    def start(self, hub: str, channel: str = "C_INCIDENT") -> str:
        """A failover approved and started, as the approve button leaves it."""
        request = self.request(hub, channel)
        started = self.service.starting.start(request.id)
        assert started is not None and started.status is RequestStatus.RUNNING, started
        return request.id

    def get(self, request_id: str) -> FailoverRequest:
        request = self.service.reading.get_request(request_id)
        assert request is not None
        return request

    def run(self, pollers: Iterable[Poller], *, until: Callable[[], bool],
            step: timedelta = timedelta(seconds=1), max_rounds: int = 10_000) -> int:
        """Round after round, the clock moving ``step`` between rounds; returns rounds run."""
        pollers = list(pollers)
        for rounds in range(1, max_rounds + 1):
            for poller in pollers:
                poller.run_once()
            if until():
                return rounds
            self.clock.advance(step)
        raise AssertionError(f"condition not reached in {max_rounds} rounds")


class WatchedGateway(SimulatedIotHubGateway):
    """The simulated fleet, noting every poll (fake time, handle) and any overlapping pair."""

    def __init__(self, clock: FakeClock, **kwargs: object) -> None:
        super().__init__(clock, **kwargs)  # type: ignore[arg-type]
        self.polls: list[tuple[datetime, str]] = []
        self.overlaps: list[str] = []
        self._in_flight: set[str] = set()
        self._watch = threading.Lock()

    def poll(self, ref: HubRef, handle: str) -> OperationPoll:
        with self._watch:
            if handle in self._in_flight:
                self.overlaps.append(handle)
            self._in_flight.add(handle)
            self.polls.append((self.clock.now(), handle))
        try:
            return super().poll(ref, handle)
        finally:
            with self._watch:
                self._in_flight.discard(handle)

    def poll_times(self, handle: str) -> list[datetime]:
        return [at for at, h in self.polls if h == handle]


@pytest.fixture
def bench(uow_factory: Callable[[], SqlUnitOfWork]) -> Bench:
    clock = FakeClock()
    # speed 8: a 1,000-device hub fails over in about a minute of fake time.
    return Bench(clock, WatchedGateway(clock, speed=8), uow_factory,
                 RecordingNotifier(clock))
