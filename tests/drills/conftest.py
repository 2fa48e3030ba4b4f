"""A drill ground: the real service, store (SQLite file), poller and Slack notifier, the
simulated fleet and the fake Slack Web API, on an injected clock."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.request import FailoverRequest, RequestStatus
from bot.poller import Poller
from bot.service import FailoverService, SubmitFailover, Submitted
from bot.slack.client import make_web_client
from bot.slack.notifier import SlackNotifier
from bot.store.base import AuditQuery
from bot.store.migrate import upgrade
from bot.store.sql import SqlUnitOfWork, make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway
from failover_sandbox.slack_api import FakeSlack, FakeSlackServer, Message

if TYPE_CHECKING:
    from .serve_harness import Drill

CHANNEL = "C0INCIDENT"
POLL_INTERVAL = timedelta(seconds=10)
LEASE_TTL = timedelta(seconds=60)
REQUESTER = Actor("U0ALICE")
HUB = "contoso-prod-weu"


@dataclass
class Ground:
    clock: FakeClock
    gateway: SimulatedIotHubGateway
    uow: Callable[[], SqlUnitOfWork]
    slack_server: FakeSlackServer
    service: FailoverService
    notifier: SlackNotifier

    @property
    def slack(self) -> FakeSlack:
        return self.slack_server.slack

    def poller(self, owner: str = "pod-1") -> Poller:
        return Poller(self.service, self.uow, self.notifier, self.clock, owner_id=owner,
                      poll_interval=POLL_INTERVAL, lease_ttl=LEASE_TTL, max_workers=2,
                      rng=random.Random(1))

    def started(self, hub: str = HUB) -> FailoverRequest:
        """Submitted, approved, announced and started, as the approve button leaves it."""
        state = self.gateway.get_state(self.gateway.resolve(hub), with_device_count=False)
        result = self.service.asking.submit(SubmitFailover(
            actor=REQUESTER, channel_id=CHANNEL, hub_name=hub, kind=OperationKind.FAILOVER,
            typed_name=hub, reason="INC-9 regional outage",
            expected_active_region=state.active_region))
        assert isinstance(result, Submitted), result
        self.notifier.request_changed(result.request)
        started = self.service.starting.start(result.request.id)
        assert started is not None and started.status is RequestStatus.RUNNING, started
        return started

    def run(self, poller: Poller, until: Callable[[], bool], *,
            step: timedelta = timedelta(seconds=5), rounds: int = 2_000) -> None:
        for _ in range(rounds):
            poller.run_once()
            if until():
                return
            self.clock.advance(step)
        raise AssertionError(f"not reached in {rounds} rounds")

    def status(self, request_id: str) -> RequestStatus:
        request = self.service.reading.get_request(request_id)
        assert request is not None
        return request.status

    def audit(self, request_id: str, action: AuditAction) -> int:
        events = self.service.reading.audit(AuditQuery(request_id=request_id, limit=1000))
        return sum(1 for e in events if e.action is action)

    def completion_posts(self) -> list[Message]:
        """Completion replies: the only thread replies broadcast to the channel."""
        return [m for m in self.slack.messages(CHANNEL) if m.reply_broadcast]


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'drill.db'}"
    upgrade(url)
    return url


@pytest.fixture
def ground(db_file: str) -> Iterator[Ground]:
    clock = FakeClock()
    gateway = SimulatedIotHubGateway(clock, speed=8)
    gateway.add_hub(HUB, "West Europe", 20_000)
    engine = make_engine(db_file)
    uow = unit_of_work_factory(engine)
    service = FailoverService(uow=uow, gateway=gateway, clock=clock,
                              access=AccessPolicy(require_approval=False),
                              poll_interval=POLL_INTERVAL)
    with FakeSlackServer() as server:
        server.slack.add_channel(CHANNEL, "incident")
        client = make_web_client(server.slack.bot_token, server.api_url, sleep=lambda _: None)
        yield Ground(clock, gateway, uow, server, service, SlackNotifier(client, service.notices))
    engine.dispose()


# ---- process drills (test_kill9.py): the marker, and each test's outcome for its fixtures ----

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process_drill: a fault drill on a real bot process (subprocess, kill -9)")


PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item: a fixture prints the bot's logs on failure."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def drill(request: pytest.FixtureRequest, tmp_path: Path, db_file: str) -> Iterator[Drill]:
    """The real ``serve`` processes against a fake ARM and a fake Slack (``serve_harness``)."""
    from .serve_harness import running_drill

    with running_drill(request, tmp_path, db_file) as ground:
        yield ground
