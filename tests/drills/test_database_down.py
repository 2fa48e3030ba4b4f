"""Drill: the audit database is unreachable while people use the bot. Every use case fails
with StoreUnavailable (which Slack users see as one clear sentence, never a stack trace), and
nothing is started at Azure: the audit row must be written before the POST."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.service import FailoverService, SubmitFailover
from bot.slack.listener_deps import failure_message
from bot.store.base import StoreUnavailable
from bot.store.sql import make_engine, unit_of_work_factory
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

from .conftest import CHANNEL, HUB, REQUESTER

PASSWORD = "s3cret-pw"
APPROVER = Actor("U0BOB")


@pytest.fixture(params=["sqlite-path-is-a-directory", "postgres-nobody-listening"])
def broken_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-path-is-a-directory":
        return f"sqlite:///{tmp_path}"
    return f"postgresql+psycopg://failover:{PASSWORD}@127.0.0.1:9/failover"


@pytest.fixture
def outage(broken_url: str) -> tuple[FailoverService, SimulatedIotHubGateway]:
    clock = FakeClock()
    gateway = SimulatedIotHubGateway(clock)
    gateway.add_hub(HUB, "West Europe", 20_000)
    service = FailoverService(uow=unit_of_work_factory(make_engine(broken_url)),
                              gateway=gateway, clock=clock,
                              access=AccessPolicy(require_approval=False))
    return service, gateway


def test_every_command_fails_clearly_and_nothing_is_started_at_azure(
        outage: tuple[FailoverService, SimulatedIotHubGateway]) -> None:
    service, gateway = outage
    attempts = {
        "preview": lambda: service.asking.preview(REQUESTER, CHANNEL, HUB, OperationKind.FAILOVER),
        "submit": lambda: service.asking.submit(SubmitFailover(
            actor=REQUESTER, channel_id=CHANNEL, hub_name=HUB, kind=OperationKind.FAILOVER,
            typed_name=HUB, reason="INC-9", expected_active_region="westeurope")),
        "approve": lambda: service.deciding.approve(APPROVER, "r" * 32),
        "start": lambda: service.starting.start("r" * 32),
        "status": lambda: service.reading.status(HUB, REQUESTER),
    }
    for name, attempt in attempts.items():
        with pytest.raises(StoreUnavailable) as caught:
            attempt()
        told = failure_message(caught.value)
        assert "database" in told and "nothing was started" in told, name
        assert PASSWORD not in str(caught.value), name

    assert gateway.calls["start_failover"] == 0
    assert gateway.calls["poll"] == 0
