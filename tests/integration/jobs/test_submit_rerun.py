"""A modal submission run again after a crash (``SubmitFailover.key``, the view id) finds the
request its first run wrote: no second request, no "already an open request"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.domain.clock import FakeClock
from bot.domain.model import AuditAction, OperationKind
from bot.domain.policy import AccessPolicy, Actor
from bot.domain.rules import Limits, Refusal
from bot.service import FailoverService, SubmitFailover, Submitted
from bot.store.base import AuditQuery, UnitOfWork
from failover_sandbox.fleet.simulated import SimulatedIotHubGateway

ALICE, MALLORY = Actor("U_ALICE"), Actor("U_MALLORY")
HUB = "contoso-weu"


@pytest.fixture
def service(uow_factory: Callable[[], UnitOfWork]) -> FailoverService:
    clock = FakeClock()
    gateway = SimulatedIotHubGateway(clock)
    gateway.add_hub(HUB, "North Europe", devices=1_000)
    return FailoverService(uow=uow_factory, gateway=gateway, clock=clock, limits=Limits(),
                           access=AccessPolicy(approvers=frozenset({"U_BOB"})),
                           request_ttl=timedelta(minutes=30),
                           poll_interval=timedelta(seconds=30))


def submission(key: str | None, actor: Actor = ALICE) -> SubmitFailover:
    return SubmitFailover(actor=actor, channel_id="C_INCIDENT", hub_name=HUB,
                          kind=OperationKind.FAILOVER, typed_name=HUB, reason="INC-1",
                          expected_active_region="northeurope", key=key)


def requested(service: FailoverService) -> int:
    events = service.reading.audit(AuditQuery(hub=HUB, limit=100))
    return sum(1 for e in events if e.action is AuditAction.REQUESTED)


def test_submitting_one_dialog_again_returns_its_request(service: FailoverService) -> None:
    first = service.asking.submit(submission("V0DIALOG1"))
    again = service.asking.submit(submission("V0DIALOG1"))
    assert isinstance(first, Submitted) and isinstance(again, Submitted), (first, again)
    assert again.request.id == first.request.id
    assert requested(service) == 1


def test_another_dialog_for_the_same_hub_is_still_refused(service: FailoverService) -> None:
    assert isinstance(service.asking.submit(submission("V0DIALOG1")), Submitted)
    other = service.asking.submit(submission("V0DIALOG2"))
    assert isinstance(other, Refusal), other
    assert requested(service) == 1


def test_a_key_is_only_recognised_for_its_own_requester(service: FailoverService) -> None:
    assert isinstance(service.asking.submit(submission("V0DIALOG1")), Submitted)
    assert isinstance(service.asking.submit(submission("V0DIALOG1", MALLORY)), Refusal)
