"""Drill: the process dies in the worst places of a failover (no cleanup, no ``close()``: its
objects are simply dropped, as ``kill -9`` leaves them). A new process on the same database
finishes the job: exactly one completion, and Azure never sees a second POST."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.model import AuditAction, HubRef, OperationKind
from bot.domain.request import RequestStatus
from bot.service import SubmitFailover, Submitted

from .conftest import CHANNEL, HUB, REQUESTER, Ground


class Killed(BaseException):
    """The process is gone: nothing after this line of the dying process runs."""


def test_killed_between_azures_202_and_storing_the_handle(ground: Ground) -> None:
    real_start = ground.gateway.start_failover

    def start_then_die(ref: HubRef, target_region: str) -> str:
        real_start(ref, target_region)  # Azure accepted the POST...
        raise Killed  # ...and the bot died before it could write the handle down

    state = ground.gateway.get_state(ground.gateway.resolve(HUB), with_device_count=False)
    submitted = ground.service.asking.submit(SubmitFailover(
        actor=REQUESTER, channel_id=CHANNEL, hub_name=HUB, kind=OperationKind.FAILOVER,
        typed_name=HUB, reason="INC-9", expected_active_region=state.active_region))
    assert isinstance(submitted, Submitted)
    ground.notifier.request_changed(submitted.request)
    ground.gateway.start_failover = start_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        ground.service.starting.start(submitted.request.id)
    ground.gateway.start_failover = real_start  # type: ignore[method-assign]
    request_id = submitted.request.id
    assert ground.status(request_id) is RequestStatus.RUNNING

    successor = ground.poller("pod-2")
    ground.run(successor, until=lambda: bool(ground.completion_posts()))
    for _ in range(30):
        ground.clock.advance(timedelta(seconds=30))
        successor.run_once()

    assert ground.status(request_id) is RequestStatus.SUCCEEDED
    assert ground.gateway.calls["start_failover"] == 1
    assert len(ground.completion_posts()) == 1
    assert ground.audit(request_id, AuditAction.STARTED) == 1
    assert ground.audit(request_id, AuditAction.SUCCEEDED) == 1


def test_killed_while_polling_with_the_lease_held(ground: Ground) -> None:
    request = ground.started()
    first = ground.poller("pod-1")
    first.run_once()
    ground.clock.advance(timedelta(seconds=10))
    first.run_once()  # it holds a lease and the progress state in memory
    del first  # kill -9

    successor = ground.poller("pod-2")
    ground.run(successor, until=lambda: bool(ground.completion_posts()))
    for _ in range(30):
        ground.clock.advance(timedelta(seconds=30))
        successor.run_once()

    assert ground.status(request.id) is RequestStatus.SUCCEEDED
    assert ground.gateway.calls["start_failover"] == 1
    assert len(ground.completion_posts()) == 1
    assert ground.audit(request.id, AuditAction.SUCCEEDED) == 1
